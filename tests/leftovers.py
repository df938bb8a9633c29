"""What a test module leaves on the host: processes, network namespaces, links and listening
sockets of its own, found by comparing the host before and after it.

"Its own" is narrow on purpose, so that the check holds on a machine doing other work: a
process is ours when it descends from this pytest process or names the session's temporary
directory on its command line (servers, agents and labs all keep their files there, and an
agent started through `ip netns exec` is re-parented when the test's handle on it is lost); a
socket is ours when one of our processes (or pytest itself) holds it. Namespaces and links are
compared by name, less the session lab's prefix (its own teardown checks those)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SESSION_LABS", "SESSION_PORTS", "HostState", "left_behind", "snapshot"]

SESSION_PORTS: set[int] = set()
"""Ports of the session's own servers (conftest.py): they outlive any one module."""
SESSION_LABS: list[Any] = []
"""The session's lab, once made (its own teardown checks it: lab_helpers.leftovers)."""

_LISTEN = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}
"""/proc/net files and the state of a listening (TCP) or bound, unconnected (UDP) socket."""


@dataclass(frozen=True)
class HostState:
    processes: dict[int, str]
    """pid -> command line, of our processes."""
    namespaces: frozenset[str]
    links: frozenset[str]
    sockets: frozenset[str]
    """'tcp 127.0.0.1:8086 (pid 123 influxd ...)': listening sockets our processes hold."""


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return out


def _ours(mark: str) -> dict[int, str]:
    """Our processes: pytest's descendants, and those whose command line (or an ancestor's)
    names ``mark``."""
    me = os.getpid()
    parents = _parents()
    cmds = {pid: cmd for pid in parents if pid != me and (cmd := _cmdline(pid))}
    found: dict[int, str] = {}
    for pid, cmd in cmds.items():  # kernel threads and the exited have no command line
        up, seen = pid, set()
        while up > 1 and up not in seen:
            if up == me or mark in cmds.get(up, ""):
                found[pid] = cmd
                break
            seen.add(up)
            up = parents.get(up, 0)
    return found


def _socket_inodes(pid: int) -> set[str]:
    out: set[str] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return out
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    if len(host) == 8:
        address = ".".join(str(b) for b in reversed(bytes.fromhex(host)))
    else:
        words = [bytes.fromhex(host[i : i + 8])[::-1].hex() for i in range(0, 32, 8)]
        address = ":".join("".join(words)[i : i + 4] for i in range(0, 32, 4))
    return f"{address}:{int(port, 16)}"


def _listening(owners: dict[int, str]) -> frozenset[str]:
    by_inode = {inode: pid for pid in owners for inode in _socket_inodes(pid)}
    found = set()
    for kind, state in _LISTEN.items():
        try:
            rows = Path(f"/proc/net/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != state or cols[9] not in by_inode:
                continue
            pid = by_inode[cols[9]]
            found.add(f"{kind} {_address(cols[1])} (pid {pid}: {owners[pid][:120]})")
    return frozenset(found)


def _names(argv: list[str]) -> frozenset[str]:
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return frozenset(line.split()[0] for line in out.splitlines() if line.strip())


def snapshot(mark: str) -> HostState:
    """The host now, as far as this session is concerned (``mark``: its temporary directory)."""
    processes = _ours(mark)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    return HostState(
        processes=processes,
        namespaces=_names(["ip", "netns", "list"]),
        links=frozenset(ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines()),
        sockets=_listening(processes | {os.getpid(): "pytest"}),
    )


def left_behind(before: HostState, after: HostState, *, spare: Collection[int] = (),
                spare_prefix: str | None = None) -> list[str]:  # fmt: skip
    """What ``after`` holds that ``before`` did not: each a line naming it. ``spare``: pids
    that may come and go (the session lab's own processes); ``spare_prefix``: the session
    lab's namespaces and links."""

    def kept(name: str) -> bool:
        return spare_prefix is None or not name.startswith(spare_prefix)

    found = [f"process {pid}: {cmd[:200]}" for pid, cmd in after.processes.items()
             if pid not in before.processes and pid not in spare]  # fmt: skip
    found += [f"namespace {n}" for n in sorted(after.namespaces - before.namespaces) if kept(n)]
    found += [f"link {n}" for n in sorted(after.links - before.links) if kept(n)]
    found += [f"listening {s}" for s in sorted(after.sockets - before.sockets)
              if not any(f"(pid {pid}:" in s for pid in spare)]  # fmt: skip
    return found
