"""InfluxDB sinks: v1 ``/write`` (InfluxDB 1.x) and v2 through influxdb-client (2.x / 3.x, and
VictoriaMetrics' ``/api/v2/write``), plus InfluxQL ``/query`` for readers and ``db init``.

Secrets (a v1 password or a v2 token) come from the environment variable or the file named in
the configuration; they are never logged. Errors name the sink (its URL without credentials)
and say what to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import re
import time
from typing import Any, Protocol, cast

import httpx

from cablewatch import credentials
from cablewatch.collectors.settings import InfluxSink
from cablewatch.errors import SinkError, SinkErrorKind

__all__ = [
    "ROLLUP",
    "InfluxQL",
    "InfluxV1Writer",
    "InfluxV2Writer",
    "Writer",
    "literal",
    "read_secret",
    "writer_for",
]


def read_secret(sink: InfluxSink) -> str | None:
    """The sink's token / password from its environment variable or file; None if neither."""
    return credentials.read_secret(
        f"influxdb sink {sink.url}", sink.secret_env, "sinks.influxdb.token_env",
        sink.secret_file, "sinks.influxdb.token_file",
    )  # fmt: skip


ROLLUP = "rollup"
"""The retention policy of the evaluator's 1-minute rollups (``db init`` makes it); raw points
go to the database's default policy."""


class Writer(Protocol):
    name: str
    clock_offset_s: float | None
    """This host's clock minus the sink's, as its last answer showed; None: not known."""

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        """Store ``lines`` of line protocol (an item may hold several, newline-separated: the
        spool hands over a round at a time), in the rollups' retention policy if ``rollup``,
        or raise SinkError. ``key``: the batch's id, for a sink that drops a batch it already
        has (the bus); InfluxDB ignores it (the same lines overwrite themselves)."""

    async def close(self) -> None: ...


_PARTIAL = re.compile(r"partial write: points beyond retention policy dropped=(\d+)")


def _offset(response: httpx.Response, sent_s: float, now_s: float) -> float | None:
    """Our clock minus the server's, by its Date header (stamped between ``sent_s`` and
    ``now_s``, to the second): 0 when they agree within that."""
    try:
        server = email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None
    if sent_s - 1.0 <= server <= now_s:
        return 0.0
    return (sent_s - 1.0 - server) if server < sent_s - 1.0 else (now_s - server)


def _classify(sink: str, response: httpx.Response, what: str) -> SinkError:
    text = response.text.strip()[:200]
    code = response.status_code
    if code in (401, 403):
        hint = "check username and token_env / token_file"
        return SinkError(
            sink, "auth", f"{what} refused: authentication failed (HTTP {code}); {hint}"
        )
    if code == 404:
        hint = "does the database exist? (`cablewatch db init`)"
        return SinkError(sink, "not_found", f"{what}: HTTP 404 {text}; {hint}")
    partial = _PARTIAL.search(text)
    if code == 400 and partial is not None:  # the rest of the batch is stored (InfluxDB 1.x)
        return SinkError(sink, "partial", f"{what}: {partial[1]} points refused as older than "
                         "the retention policy keeps", refused=int(partial[1]))  # fmt: skip
    if 400 <= response.status_code < 500:
        return SinkError(sink, "rejected", f"{what} rejected: HTTP {response.status_code} {text}")
    return SinkError(sink, "server", f"{what}: HTTP {response.status_code} {text}")


def _v1_client(
    sink: InfluxSink, secret: str | None, headers: dict[str, str], timeout_s: float
) -> httpx.AsyncClient:
    """An HTTP client for the 1.x API: basic auth with a username, else a token header."""
    auth: tuple[str, str] | None = None
    if sink.username:
        auth = (sink.username, secret or "")
    elif secret:
        headers = headers | {"Authorization": f"Token {secret}"}
    return httpx.AsyncClient(base_url=sink.url, headers=headers, auth=auth, timeout=timeout_s)


async def _post(
    client: httpx.AsyncClient, sink: str, what: str, path: str, ok: int, **kwargs: Any
) -> httpx.Response:
    """POST, turning transport failures and unexpected statuses into SinkError."""
    try:
        response = await client.post(path, **kwargs)
    except httpx.HTTPError as exc:
        raise SinkError(sink, "unreachable", f"{what} failed: {exc or type(exc).__name__}") from exc
    if response.status_code != ok:
        raise _classify(sink, response, what)
    return response


class InfluxV1Writer:
    """``POST /write?db=...&precision=ns`` with a gzip body."""

    def __init__(self, sink: InfluxSink, *, secret: str | None, timeout_s: float = 10.0) -> None:
        self.sink = sink
        self.name = sink.url
        self._params = {"db": sink.database, "precision": "ns"}
        self.clock_offset_s: float | None = None
        """This host's clock minus the server's, by the last answer's Date header (whole
        seconds: it tells a clock minutes off, not milliseconds)."""
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
        self._client = _v1_client(sink, secret, headers, timeout_s)

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        # zlib releases the GIL: compress in a thread so batches in flight compress in parallel
        body = await asyncio.to_thread(gzip.compress, "\n".join(lines).encode(), 1)
        params = self._params | {"rp": ROLLUP} if rollup else self._params
        sent = time.time()
        response = await _post(self._client, self.name, "write", "/write", 204, params=params,
                               content=body)  # fmt: skip
        self.clock_offset_s = _offset(response, sent, time.time())

    async def close(self) -> None:
        await self._client.aclose()


class InfluxV2Writer:
    """influxdb-client's write API (synchronous, run in a thread): InfluxDB 2.x / 3.x and
    anything that takes ``/api/v2/write`` (VictoriaMetrics)."""

    def __init__(self, sink: InfluxSink, *, secret: str | None, timeout_s: float = 10.0) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.sink = sink
        self.name = sink.url
        self.clock_offset_s: float | None = None  # influxdb-client does not show the answer
        self._client = InfluxDBClient(
            url=sink.url, token=secret or "", org=sink.org, timeout=int(timeout_s * 1000),
            enable_gzip=True,
        )  # fmt: skip
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    async def write(
        self, lines: list[str], *, rollup: bool = False, key: str | None = None
    ) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        bucket = self.sink.bucket
        if rollup:
            bucket = self.sink.rollup_bucket or f"{bucket}_{ROLLUP}"
        try:
            await asyncio.to_thread(
                self._api.write, bucket=bucket, org=self.sink.org, record=lines,
                write_precision=cast(WritePrecision, WritePrecision.NS),  # a str constant
            )  # fmt: skip
        except ApiException as exc:
            status = int(exc.status or 0)
            kind: SinkErrorKind = (
                "auth"
                if status in (401, 403)
                else ("rejected" if 400 <= status < 500 else "server")
            )
            raise SinkError(self.name, kind, f"write failed: HTTP {status} {exc.reason}") from exc
        except OSError as exc:
            raise SinkError(self.name, "unreachable", f"write failed: {exc}") from exc
        except Exception as exc:  # urllib3's errors do not share a useful base class
            raise SinkError(self.name, "unreachable", f"write failed: {exc}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def writer_for(sink: InfluxSink) -> Writer:
    secret = read_secret(sink)
    if sink.mode == "v2":
        return InfluxV2Writer(sink, secret=secret)
    return InfluxV1Writer(sink, secret=secret)


def literal(text: str) -> str:
    """An InfluxQL string literal: single-quoted, with backslashes and quotes escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQL:
    """InfluxQL over ``/query``: answered by InfluxDB 1.x, 2.x (v1 compatibility) and 3.x."""

    def __init__(self, sink: InfluxSink, *, timeout_s: float = 30.0) -> None:
        self.sink = sink
        self.name = sink.url
        headers = {"Accept": "application/json"}
        self._client = _v1_client(sink, read_secret(sink), headers, timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

    async def query(
        self, q: str, *, database: str | None = None, epoch: str = "ns"
    ) -> list[dict[str, Any]]:
        """The series of every statement's result; raises SinkError on any error."""
        return [s for found in await self.statements(q, database=database, epoch=epoch)
                for s in found]  # fmt: skip

    async def statements(
        self, q: str, *, database: str | None = None, epoch: str = "ns"
    ) -> list[list[dict[str, Any]]]:
        """Each statement's series, in the order of the statements (``q`` may hold several,
        separated by ``;``: one request); raises SinkError on any error. (Readers need the
        server's ``max-row-limit`` at 0, its default: a cut answer cannot be told from a whole
        one, as 1.x flags every series merged from chunks "partial".)"""
        data = {"q": q, "epoch": epoch}
        db = self.sink.database if database is None else database
        if db:
            data["db"] = db
        response = await _post(self._client, self.name, "query", "/query", 200, data=data)
        out: list[list[dict[str, Any]]] = []
        for result in response.json().get("results", []):
            if "error" in result:
                raise SinkError(self.name, "rejected", f"query error: {result['error']}")
            out.append(result.get("series", []))
        return out

    async def ping(self) -> None:
        try:
            response = await self._client.get("/ping")
        except httpx.HTTPError as exc:
            raise SinkError(
                self.name, "unreachable", f"no answer: {exc or type(exc).__name__}"
            ) from exc
        if response.status_code != 204:
            raise _classify(self.name, response, "ping")
