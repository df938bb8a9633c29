"""What /proc says of a process, for the benchmarks: CPU seconds and memory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_s", "status_mib"]


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/PID/status (``VmRSS``, ``VmHWM``) in MiB; NaN if absent."""
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith(f"{field}:"):
            return int(ln.split()[1]) / 1024
    return float("nan")
