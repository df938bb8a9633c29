"""Settings of the gateway API (``[api]``) and its webhooks (``[[webhooks]]``)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Bool, Int, Str, Table, valid_name, valid_url

__all__ = ["ApiSettings", "WebhookSettings"]


@dataclass(frozen=True, slots=True)
class ApiSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9518
    tokens_env: str = ""
    """An environment variable holding the bearer tokens, comma-separated ..."""
    tokens_file: str = ""
    """... or a file with one token per line (# comments allowed). A line ``name:token`` names
    its token, for ``scopes``; an unnamed token is an operator's."""
    scopes: tuple[tuple[str, str], ...] = ()
    """``[api.scopes]``: token name -> "operator" or the one customer it may read."""
    tls_cert_file: str = ""
    """Serve HTTPS with this certificate (PEM, the chain after it) ..."""
    tls_key_file: str = ""
    """... and this private key (PEM); both or neither."""
    status_link_key_file: str = ""
    """The key that signs short-lived links to customers' status pages (HMAC-SHA256 over the
    customer and the expiry; a file, or a systemd credential's name). Empty: the status page
    takes only an Authorization header."""
    status_link_ttl_s: int = 86400
    """How long a minted link stays valid, at most."""
    access_log: bool = False
    """Log every request (method, path, status) at INFO; bearer tokens never appear in it."""

    @classmethod
    def from_table(cls, t: Table | None) -> ApiSettings | None:
        if t is None:
            return None
        v = t.read(listen_host=Str(), listen_port=Int(0, 65535), tokens_env=Str(),
                   tokens_file=Str(), tls_cert_file=Str(), tls_key_file=Str(),
                   status_link_key_file=Str(), status_link_ttl_s=Int(60, 90 * 86400),
                   access_log=Bool())  # fmt: skip
        scopes = t.table("scopes", required=False)
        if scopes is not None:
            pairs = []
            for name in scopes.data:
                scope = scopes.identifier(name)
                if not valid_name(name) or ":" in name:
                    scopes.problem(name, "a token name has no ':' or control characters")
                elif scope is not None:
                    pairs.append((name, scope))
            v["scopes"] = tuple(pairs)
        t.finish(secret_hint=("token", "tokens"))
        if ("tokens_env" in v) == ("tokens_file" in v):
            t.problem("", "give exactly one of tokens_env or tokens_file: the API needs bearer "
                      "tokens, and they never live in this file")  # fmt: skip
        if ("tls_cert_file" in v) != ("tls_key_file" in v):
            t.problem("", "give both tls_cert_file and tls_key_file (HTTPS), or neither")
        return cls(**v)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret_env: str = ""
    """The HMAC-SHA256 signing secret, from this environment variable or file."""
    secret_file: str = ""
    max_attempts: int = 6
    """Attempts per delivery, backing off 1, 2, 4, 8, 16 s between them."""

    @classmethod
    def from_table(cls, t: Table) -> WebhookSettings | None:
        url = t.string("url")
        v = t.read(secret_env=Str(), secret_file=Str(), max_attempts=Int(1, 20))
        t.finish(secret_hint=("secret",))
        if url is not None and not valid_url(url):
            t.problem("url", f"got {url!r}, expected an http:// or https:// URL")
            return None
        if ("secret_env" in v) == ("secret_file" in v):
            t.problem("", "give exactly one of secret_env or secret_file (the HMAC key)")
            return None
        return None if url is None else cls(url, **v)
