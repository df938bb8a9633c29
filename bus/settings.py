"""Settings of the message bus (``[bus]``): NATS JetStream between the agents and the
evaluators, for deployments past one machine. Without a ``[bus]`` section nothing changes:
agents write InfluxDB and the evaluator reads it."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from cablewatch.schema import Int, Num, Str, Table

__all__ = ["BusSettings", "valid_nats_url"]

_SCHEMES = ("nats", "tls")
_DUPLICATE_WINDOW_S = 3600.0
_MAX_AGE_S = 86400.0


def valid_nats_url(value: str) -> bool:
    """``nats://HOST:PORT`` or ``tls://HOST:PORT`` (a port: NATS's default 4222 is assumed by
    nobody here)."""
    try:
        u = urllib.parse.urlsplit(value)
        port = u.port
    except ValueError:
        return False
    return u.scheme in _SCHEMES and bool(u.hostname) and port is not None and not u.path


@dataclass(frozen=True, slots=True)
class BusSettings:
    urls: tuple[str, ...]
    """Every NATS server the client may use (a cluster's nodes: it fails over between them)."""
    stream: str = "CABLEWATCH_ROUNDS"
    """The JetStream stream the agents publish their spooled batches to."""
    subject: str = "cablewatch.rounds"
    """Its subjects' prefix: an agent publishes on ``SUBJECT.STATION.REGION``."""
    replicas: int = 3
    """Copies of the stream in the cluster (3: a node may die with nothing lost)."""
    duplicate_window_s: float = _DUPLICATE_WINDOW_S
    """How long the server remembers a batch's id: an agent's replay within this long after
    its first publish (a crash between the publish and the spool's acknowledgement, a lost
    node) is dropped as a duplicate."""
    max_age_s: float = _MAX_AGE_S
    """How long the stream keeps a batch: ``cablewatch ingest`` catches up after an InfluxDB
    outage this long, and an evaluator taking a partition over warms up from it."""
    ingest_consumer: str = "cablewatch-ingest"
    """The durable consumer every ``cablewatch ingest`` replica shares."""
    ack_wait_s: float = 30.0
    """A batch that ``ingest`` took and did not acknowledge in this long (it died, InfluxDB
    hung) is delivered again, to any replica."""
    lease_bucket: str = "cablewatch_leases"
    """The key-value bucket where evaluators hold their landing stations (one key each)."""
    lease_ttl_s: float = 6.0
    """A lease lives this long after its holder's last renewal (renewed every quarter of it);
    the holder stops writing at 0.75 of it, another takes over after it."""
    user: str = ""
    secret_env: str = ""
    """The password (with ``user``) or token (without), from this environment variable ..."""
    secret_file: str = ""
    """... or this file; never from the configuration file itself."""
    creds_file: str = ""
    """A NATS credentials file (JWT and NKey seed: decentralized auth), instead."""
    tls_ca_file: str = ""
    """The CA that signed the servers' certificates (``tls://`` URLs)."""

    @classmethod
    def from_table(cls, t: Table | None) -> BusSettings | None:
        if t is None:
            return None
        urls = t.string_list("urls")
        v = t.read(stream=Str(), subject=Str(), replicas=Int(1, 5),
                   duplicate_window_s=Num(1, 7 * 86400), max_age_s=Num(60),
                   ingest_consumer=Str(), ack_wait_s=Num(1, 3600), lease_bucket=Str(),
                   lease_ttl_s=Num(1, 300), user=Str(),
                   password_env=Str(), password_file=Str(), token_env=Str(), token_file=Str(),
                   creds_file=Str(), tls_ca_file=Str())  # fmt: skip
        t.finish(secret_hint=("password", "token"))
        for url in urls or ():
            if not valid_nats_url(url):
                t.problem("urls", f"got {url!r}, expected nats://HOST:PORT or tls://HOST:PORT")
        for key in ("stream", "ingest_consumer", "lease_bucket"):
            name = v.get(key, "x")
            if not name or any(c in name for c in " .*>\t"):
                t.problem(key, f"got {name!r}, expected a name without spaces, '.', '*', '>'")
        subject = v.get("subject", "x")
        if not subject or any(c in subject for c in " *>\t") or "" in subject.split("."):
            t.problem("subject", f"got {subject!r}, expected dot-separated tokens "
                      "without '*' or '>' (e.g. cablewatch.rounds)")  # fmt: skip
        given = [k for k in ("password_env", "password_file", "token_env", "token_file",
                             "creds_file") if k in v]  # fmt: skip
        if len(given) > 1:
            t.problem(given[1], f"give one of password_env, password_file, token_env, "
                      f"token_file, creds_file (got {', '.join(given)})")  # fmt: skip
        if "user" in v and not any(k.startswith("password") for k in given):
            t.problem("user", "a user needs password_env or password_file")
        if any(k.startswith("password") for k in given) and "user" not in v:
            t.problem(given[0], "a password needs a user (or give token_env / token_file)")
        if v.get("max_age_s", _MAX_AGE_S) < v.get("duplicate_window_s", _DUPLICATE_WINDOW_S):
            t.problem("duplicate_window_s", "must not exceed max_age_s (JetStream refuses it)")
        if urls is None:
            return None
        env = v.pop("password_env", "") or v.pop("token_env", "")
        file = v.pop("password_file", "") or v.pop("token_file", "")
        for k in ("password_env", "token_env", "password_file", "token_file"):
            v.pop(k, None)
        return cls(urls=tuple(urls), **v, secret_env=env, secret_file=file)

    @property
    def servers(self) -> str:
        """The URLs for messages (they carry no credentials)."""
        return ", ".join(self.urls)
