"""Target syntax (host:port, [v6]:port) and name resolution with a deadline."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Sequence

from cablewatch.errors import TargetError

__all__ = ["ResolveFailure", "host_port", "parse_host_port", "resolve", "resolve_all"]


class ResolveFailure(Exception):
    """A name did not resolve; probes turn it into a ``resolve_error`` result."""


def host_port(address: str, port: int) -> str:
    """``address:port``, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_host_port(text: str, *, default_port: int | None = None) -> tuple[str, int]:
    """Split ``host:port``, ``[v6]:port``, or (with a default port) ``host`` / bare IPv6."""
    host, sep, port_text = text, "", ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise TargetError(f"bad target {text!r}: unclosed '[' in an IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise TargetError(f"bad target {text!r}: expected ':PORT' after ']'")
        sep, port_text = rest[:1], rest[1:]
    elif text.count(":") == 1:
        host, sep, port_text = text.partition(":")
    elif text.count(":") > 1 and default_port is None:
        raise TargetError(f"bad target {text!r}: write an IPv6 address with a port as [ADDR]:PORT")
    if not host:
        raise TargetError(f"bad target {text!r}: no host")
    if not sep:
        if default_port is None:
            raise TargetError(f"bad target {text!r}: expected HOST:PORT")
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise TargetError(f"bad port {port_text!r} in {text!r}: expected a number from 1 to 65535")
    return host, int(port_text)


@functools.lru_cache(maxsize=65536)
def _literal(host: str) -> str | None:
    """``host`` as an IP address in its compressed form, if it is one. Cached: an agent asks
    for each of its targets every round (at 3,000 targets, parsing was about 5 % of its CPU)."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return None


async def resolve_all(hosts: Sequence[str], *, timeout_s: float) -> list[str | ResolveFailure]:
    """An address or the failure for each of ``hosts``, in order: IP literals at once, names
    concurrently (a batch of thousands of literal targets costs no task or timer each)."""
    literals = [_literal(host) for host in hosts]
    named = [i for i, literal in enumerate(literals) if literal is None]
    got = await asyncio.gather(*(resolve(hosts[i], timeout_s=timeout_s) for i in named),
                               return_exceptions=True)  # fmt: skip
    by_index: dict[int, str | ResolveFailure] = {}
    for i, address in zip(named, got, strict=True):
        if isinstance(address, BaseException) and not isinstance(address, ResolveFailure):
            raise address
        by_index[i] = address
    return [literal if literal is not None else by_index[i] for i, literal in enumerate(literals)]


async def resolve(host: str, *, timeout_s: float, family: int = socket.AF_UNSPEC) -> str:
    """An IP address for ``host`` (IP literals pass through), or ResolveFailure."""
    literal = _literal(host)
    if literal is not None:
        return literal
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM),
            timeout=timeout_s,
        )
    except TimeoutError as exc:
        raise ResolveFailure(f"cannot resolve {host!r}: no answer within {timeout_s:g} s") from exc
    except socket.gaierror as exc:
        raise ResolveFailure(f"cannot resolve {host!r}: {exc.strerror}") from exc
    if not infos:
        raise ResolveFailure(f"cannot resolve {host!r}: no address")
    # Prefer IPv4 when both exist, like most probes' defaults (fping -4 unless told).
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])
