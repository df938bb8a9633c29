"""The durable spool on the probe host: every result is committed here before it is sent.

SQLite in WAL mode with ``synchronous=FULL``: a committed round survives a SIGKILL and a power
cut. A round's line-protocol points and the count of rounds made for its series are written in
the same transaction, so the spool's count is exactly what was measured and is safe to keep.
Points leave the spool only after a sink acknowledged them (at-least-once); since the same round
always has the same lines, a replay overwrites itself in InfluxDB instead of counting twice.

Only its owner reads it (mode 0600, and 0700 for a directory it creates; SQLite gives the WAL
and shared-memory files the database's mode): results can name internal addresses.

Disk bound: when the points pending exceed ``max_bytes``, the oldest are dropped (counted in
``dropped``; the agent logs it). Not thread-safe: use from one thread at a time.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Spool", "SpoolDepth", "report"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (series TEXT PRIMARY KEY, made INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolDepth:
    points: int
    bytes: int


class Spool:
    def __init__(self, path: str | Path, *, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        for suffix in ("", "-wal", "-shm"):  # made by an older version, or under another umask
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{self.path}{suffix}", 0o600)
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for name in ("bytes", "dropped"):
            self._db.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (name,))

    def close(self) -> None:
        self._db.close()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def add(self, rounds: Sequence[tuple[str, Sequence[str]]]) -> int:
        """Commit rounds, each (series, lines); returns how many old points the bound dropped."""
        added = sum(len(line) for _series, lines in rounds for line in lines)
        with self._transaction():
            self._db.executemany(
                "INSERT INTO points (line) VALUES (?)",
                [(line,) for _series, lines in rounds for line in lines],
            )
            self._db.executemany(
                "INSERT INTO rounds VALUES (?, 1) "
                "ON CONFLICT(series) DO UPDATE SET made = made + 1",
                [(series,) for series, _lines in rounds],
            )
            self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'bytes'", (added,))
            return self._enforce_bound()

    def _enforce_bound(self) -> int:
        total = self._counter("bytes")
        if total <= self.max_bytes:
            return 0
        dropped = freed = 0
        cursor = self._db.execute("SELECT id, length(line) FROM points ORDER BY id")
        last_id = 0
        for point_id, size in cursor:
            if total - freed <= self.max_bytes:
                break
            freed += size
            dropped += 1
            last_id = point_id
        self._db.execute("DELETE FROM points WHERE id <= ?", (last_id,))
        self._db.execute("UPDATE counters SET value = value - ? WHERE name = 'bytes'", (freed,))
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (dropped,))
        return dropped

    def peek(self, max_points: int, after_id: int = 0) -> list[tuple[int, str]]:
        """The oldest pending points after ``after_id``, (id, line), at most ``max_points``."""
        rows = self._db.execute(
            "SELECT id, line FROM points WHERE id > ? ORDER BY id LIMIT ?", (after_id, max_points)
        ).fetchall()
        return [(int(i), str(line)) for i, line in rows]

    def ack(self, through_id: int, size: int | None = None) -> None:
        """The sink stored every point up to ``through_id`` (``size`` bytes of them, if the
        caller knows): forget them. Committed without fsync: an acknowledgement lost to a power
        cut only means a replay, and replays are idempotent."""
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._transaction():
                if size is None:
                    (size,) = self._db.execute(
                        "SELECT coalesce(sum(length(line)), 0) FROM points WHERE id <= ?",
                        (through_id,),
                    ).fetchone()
                self._db.execute("DELETE FROM points WHERE id <= ?", (through_id,))
                self._db.execute(
                    "UPDATE counters SET value = value - ? WHERE name = 'bytes'", (size,)
                )
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def depth(self) -> SpoolDepth:
        (count,) = self._db.execute("SELECT count(*) FROM points").fetchone()
        return SpoolDepth(int(count), self._counter("bytes"))

    @property
    def dropped(self) -> int:
        return self._counter("dropped")

    def rounds(self) -> dict[str, int]:
        """Rounds made per series since the spool was created (the agent's report)."""
        return {str(s): int(n) for s, n in self._db.execute("SELECT series, made FROM rounds")}

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: object, *_: object) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _transaction(self) -> Spool._Tx:
        return Spool._Tx(self._db)


def report(path: str | Path) -> dict[str, object]:
    """What a spool holds: for `cablewatch spool report` and the tests."""
    spool = Spool(path)
    try:
        depth = spool.depth()
        return {
            "path": str(path),
            "points_pending": depth.points,
            "bytes_pending": depth.bytes,
            "points_dropped": spool.dropped,
            "rounds": spool.rounds(),
        }
    finally:
        spool.close()
