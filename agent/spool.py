"""The durable spool on the probe host: every result is committed here before it is sent.

SQLite in WAL mode with ``synchronous=FULL``: a committed round survives a SIGKILL and a power
cut. A round's line-protocol points and the count of rounds made for its series are written in
the same transaction, so the spool's count is exactly what was measured and is safe to keep.
Points leave the spool only after a sink acknowledged them (at-least-once); since the same round
always has the same lines, a replay overwrites itself in InfluxDB instead of counting twice.

Only its owner reads it (mode 0600, and 0700 for a directory it creates; SQLite gives the WAL
and shared-memory files the database's mode): results can name internal addresses.

A round's points are one row (its lines joined by newlines, and how many): committing,
reading and acknowledging cost per round, not per point (an ICMP round is 6 points; per-point
rows made acknowledging alone cost about 1 us a point). Spools written by a version that kept
a row per point are read as they are (each such row counts one point).

One owner at a time: the agent opens its spool with ``owner=True``, which holds an exclusive
lock on ``SPOOL.lock`` (naming its pid) until it closes; a second agent told the same spool
(the same region, or shard) stops at once with one line naming the first one's pid. Readers
(``cablewatch spool report``, the benchmarks) take no lock.

Batches with an id (for a sink that drops a batch it already has: the bus): the sender fixes
a batch's rows before it leaves (:meth:`Spool.fix`, committed), and every later read from that
row on gives the same rows under the same id, ``SPOOL-ID:FIRST-LAST`` (the spool's own random
id, made with it: a spool deleted and made again never repeats an id; SQLite's AUTOINCREMENT
never reuses a row id). A replay after a crash between a publish and its acknowledgement is
then the same message, which the bus drops.

Disk bound: when the points pending exceed ``max_bytes``, the oldest rounds are dropped
(their points counted in ``dropped``; the agent logs it). Not thread-safe: use from one thread
at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cablewatch.errors import CablewatchError

__all__ = ["Pending", "Spool", "SpoolDepth", "SpoolInUseError", "report"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL,
                                   n INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS rounds (series TEXT PRIMARY KEY, made INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (first INTEGER PRIMARY KEY, last INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolDepth:
    points: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Pending:
    """The oldest pending rounds after some id: what one write carries."""

    first_id: int
    last_id: int
    points: int
    size: int
    """Bytes of line protocol (as the spool counts them)."""
    chunks: list[str]
    """Each round's lines, joined by newlines: joined by newlines again, the body to write."""
    key: str | None = None
    """The batch's id once fixed (:meth:`Spool.fix`): the same rows always carry it."""


class SpoolInUseError(CablewatchError):
    """Another process owns the spool."""


def _take(path: Path) -> int:
    """Lock ``path`` + ``.lock`` for this process (released when the descriptor closes, or
    the process dies); write our pid in it. Raises SpoolInUseError naming the owner's."""
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SpoolInUseError(f"spool {path} is in use by pid {owner} (another agent for the "
                              "same region or shard?)") from None  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class Spool:
    def __init__(
        self, path: str | Path, *, max_bytes: int = 256 * 1024 * 1024, owner: bool = False
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = _take(self.path) if owner else None
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        for suffix in ("", "-wal", "-shm"):  # made by an older version, or under another umask
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{self.path}{suffix}", 0o600)
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Debian builds SQLite with secure delete on: every acknowledged page was zeroed and
        # written to the WAL again, 80 % of an acknowledgement's cost. FAST zeroes only what
        # is written anyway; a probe result is no secret worth the I/O (the file is 0600).
        self._db.execute("PRAGMA secure_delete=FAST")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(points)")}
        if "n" not in columns:  # a row per point, from an older version: each counts one
            self._db.execute("ALTER TABLE points ADD COLUMN n INTEGER NOT NULL DEFAULT 1")
        for name in ("bytes", "dropped"):
            self._db.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (name,))
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('id', ?)", (uuid.uuid4().hex,))
        (self.id,) = self._db.execute("SELECT value FROM meta WHERE name = 'id'").fetchone()
        """This spool's random id (the first part of its batches' ids)."""

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def add(self, rounds: Sequence[tuple[str, Sequence[str]]]) -> int:
        """Commit rounds, each (series, lines); returns how many old points the bound dropped."""
        chunks = [("\n".join(lines), len(lines)) for _series, lines in rounds if lines]
        added = sum(len(text) for text, _n in chunks)
        with self._transaction():
            self._db.executemany("INSERT INTO points (line, n) VALUES (?, ?)", chunks)
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
        cursor = self._db.execute("SELECT id, length(line), n FROM points ORDER BY id")
        last_id = 0
        for row_id, size, n in cursor:
            if total - freed <= self.max_bytes:
                break
            freed += size
            dropped += n
            last_id = row_id
        self._db.execute("DELETE FROM points WHERE id <= ?", (last_id,))
        self._db.execute("DELETE FROM batches WHERE last <= ?", (last_id,))
        self._db.execute("UPDATE counters SET value = value - ? WHERE name = 'bytes'", (freed,))
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (dropped,))
        return dropped

    def peek(
        self, max_points: int, after_id: int = 0, max_bytes: int | None = None
    ) -> Pending | None:
        """The oldest pending rounds after ``after_id``: whole rounds, until they hold at least
        ``max_points`` points or the next would pass ``max_bytes`` (or all there are); None
        when nothing is pending. A fixed batch is given as it was fixed, with its id."""
        fixed = self._db.execute(
            "SELECT first, last FROM batches WHERE last > ? ORDER BY first LIMIT 1", (after_id,)
        ).fetchone()
        until = fixed[1] if fixed else None
        cursor = self._db.execute(
            "SELECT id, line, n FROM points WHERE id > ? AND id <= ? ORDER BY id",
            (after_id, until if until is not None else (1 << 63) - 1),
        )
        chunks: list[str] = []
        first = last = points = size = 0
        for row_id, text, n in cursor:  # stepped lazily: stops reading at the batch's end
            if until is None and chunks and max_bytes is not None and \
                    size + len(text) > max_bytes:  # fmt: skip
                break
            if not chunks:
                first = row_id
            chunks.append(text)
            last = row_id
            points += n
            size += len(text)
            if until is None and points >= max_points:
                break
        cursor.close()
        if not chunks:
            return None
        key = f"{self.id}:{fixed[0]}-{fixed[1]}" if fixed else None
        return Pending(first, last, points, size, chunks, key)

    def fix(self, batch: Pending) -> Pending:
        """Fix ``batch``'s rows (committed before it leaves): every later read from its first
        row gives these rows under this id."""
        if batch.key is not None:
            return batch
        with self._transaction():
            self._db.execute("INSERT INTO batches VALUES (?, ?)", (batch.first_id, batch.last_id))
        return replace(batch, key=f"{self.id}:{batch.first_id}-{batch.last_id}")

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
                self._db.execute("DELETE FROM batches WHERE last <= ?", (through_id,))
                self._db.execute(
                    "UPDATE counters SET value = value - ? WHERE name = 'bytes'", (size,)
                )
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def lines(self, prefix: str = "") -> Iterator[str]:
        """Every pending line starting with ``prefix``, oldest first (for tests, benchmarks
        and inspection: the sender reads batches)."""
        for (text,) in self._db.execute("SELECT line FROM points ORDER BY id"):
            yield from (ln for ln in text.split("\n") if ln.startswith(prefix))

    def depth(self) -> SpoolDepth:
        (count,) = self._db.execute("SELECT coalesce(sum(n), 0) FROM points").fetchone()
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
