"""A record of what each detection pass judged: every round it took, as it read them, and when
it read them (JSON lines, appended). With it, a decision can be checked against what InfluxDB
holds afterwards: a round judged with other counts than those stored is a reader's fault."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from cablewatch.correlation.detector import Round

__all__ = ["InputRecord", "read_record"]


class InputRecord:
    """Appends one line per pass that took rounds: ``{"read_s": T, "rounds": [[region, cable,
    time_s, sent, received, median_ms, jitter_ms, min_ms], ...]}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, read_s: float, rounds: Sequence[Round]) -> None:
        if not rounds:
            return
        rows = [[r.region, r.cable, r.time_s, r.sent, r.received, r.median_ms, r.jitter_ms,
                 r.min_ms] for r in rounds]  # fmt: skip
        self._file.write(json.dumps({"read_s": read_s, "rounds": rows}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_record(path: Path) -> list[tuple[float, Round]]:
    """Every round of a record, with the time its pass read it."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        out += [(entry["read_s"], Round(*row)) for row in entry["rounds"]]
    return out
