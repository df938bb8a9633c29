"""The spool: commit before send, ack after, bounded, crash-safe (a real SIGKILL)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cablewatch.agent.spool import Spool, SpoolDepth, SpoolInUseError


def test_points_stay_until_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.add([("ping|sg|ADC", ["a 1", "b 2"]), ("tcp|sg|ADC", ["c 3"])])
    assert spool.depth() == SpoolDepth(3, 10)  # "a 1\nb 2" and "c 3"
    batch = spool.peek(2)
    assert batch is not None
    assert (batch.chunks, batch.points, batch.size) == (["a 1\nb 2"], 2, 7)
    spool.ack(batch.last_id, batch.size)
    rest = spool.peek(10)
    assert rest is not None
    assert (rest.chunks, rest.points) == (["c 3"], 1)
    assert spool.depth().points == 1
    assert spool.depth().bytes == 3
    spool.ack(rest.last_id)
    assert spool.peek(10) is None
    assert spool.depth() == SpoolDepth(0, 0)
    assert spool.rounds() == {"ping|sg|ADC": 1, "tcp|sg|ADC": 1}


def test_rounds_made_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path)
    for _ in range(3):
        spool.add([("ping|sg|ADC", ["x 1"])])
    spool.close()
    assert Spool(path).rounds() == {"ping|sg|ADC": 3}


def test_disk_bound_drops_the_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_bytes=20)
    assert spool.add([("s", ["0123456789"])]) == 0
    assert spool.add([("s", ["abcdefghij"])]) == 0
    assert spool.add([("s", ["ABCDEFGHIJ"])]) == 1  # 30 bytes > 20: the oldest goes
    batch = spool.peek(10)
    assert batch is not None
    assert batch.chunks == ["abcdefghij", "ABCDEFGHIJ"]
    assert spool.dropped == 1
    assert spool.depth().bytes == 20
    assert spool.rounds() == {"s": 3}  # dropped points were still measured


def test_committed_rounds_survive_sigkill(tmp_path: Path) -> None:
    """A writer killed with SIGKILL mid-stream loses nothing it had committed."""
    path = tmp_path / "s.db"
    script = (
        "import sys, os\n"
        "from cablewatch.agent.spool import Spool\n"
        f"s = Spool({str(path)!r})\n"
        "for i in range(200):\n"
        "    s.add([('ping|x', [f'p v=1 {i}'])])\n"
        "    print(i, flush=True)\n"
        "    if i == 150: os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == -9
    printed = [int(x) for x in proc.stdout.split()]
    assert printed[-1] == 150
    spool = Spool(path)
    assert spool.rounds() == {"ping|x": 151}
    assert spool.depth().points == 151


def test_only_its_owner_reads_it(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    old.write_bytes(b"")
    old.chmod(0o644)  # made under a looser umask
    for path in (tmp_path / "state" / "s.db", old):
        spool = Spool(path)
        spool.add([("ping|sg|ADC", ["a 1"])])
        for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert f.stat().st_mode & 0o777 == 0o600, f
        spool.close()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_a_batch_holds_whole_rounds_up_to_the_size_asked(tmp_path: Path) -> None:
    """Rounds are not split: a batch takes rounds until it holds at least the points asked,
    and the next starts after it."""
    spool = Spool(tmp_path / "s.db")
    spool.add([(f"s{i}", [f"m v={i}{j} {j}" for j in range(6)]) for i in range(5)])
    first = spool.peek(10)
    assert first is not None
    assert (first.points, len(first.chunks)) == (12, 2)
    second = spool.peek(10, first.last_id)
    assert second is not None
    assert (second.points, len(second.chunks), second.first_id) == (12, 2, first.last_id + 1)
    last = spool.peek(10, second.last_id)
    assert last is not None
    assert last.points == 6
    lines = "\n".join(first.chunks + second.chunks + last.chunks).split("\n")
    assert lines == [f"m v={i}{j} {j}" for i in range(5) for j in range(6)]
    assert spool.add([("empty", [])]) == 0  # a round without points counts, stores nothing
    assert spool.rounds()["empty"] == 1
    assert spool.depth().points == 30


def test_a_spool_with_a_row_per_point_reads_as_before(tmp_path: Path) -> None:
    """A spool left by the version that kept a row per point: each row is one point."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE points (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO points (line) VALUES ('a 1'), ('b 2'), ('c 3');"
        "INSERT INTO counters VALUES ('bytes', 9), ('dropped', 0);"
    )
    db.commit()
    db.close()
    spool = Spool(path)
    assert spool.depth() == SpoolDepth(3, 9)
    batch = spool.peek(2)
    assert batch is not None
    assert (batch.chunks, batch.points) == (["a 1", "b 2"], 2)
    spool.add([("s", ["d 4", "e 5"])])
    assert spool.depth().points == 5


def test_one_owner_at_a_time_and_the_second_is_told_who(tmp_path: Path) -> None:
    """Two agents told the same spool would send its rounds twice and miscount them: the second
    owner is refused with the first one's pid; readers take no lock; the lock goes with its
    owner, by close or by SIGKILL."""
    path = tmp_path / "s.db"
    owner = Spool(path, owner=True)
    with pytest.raises(SpoolInUseError, match=rf"spool {path} is in use by pid {os.getpid()} "):
        Spool(path, owner=True)
    Spool(path).close()  # a reader
    owner.close()
    Spool(path, owner=True).close()  # free again
    script = (
        "import os, sys\n"
        "from cablewatch.agent.spool import Spool\n"
        f"s = Spool({str(path)!r}, owner=True)\n"
        "print(os.getpid(), flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:  # fmt: skip
        assert holder.stdout is not None
        pid = int(holder.stdout.readline())
        with pytest.raises(SpoolInUseError, match=rf"in use by pid {pid} "):
            Spool(path, owner=True)
        holder.kill()
        holder.wait(10)
    Spool(path, owner=True).close()  # the kernel released it with the process


def test_a_fixed_batch_is_read_again_as_it_was_under_its_id(tmp_path: Path) -> None:
    """The bus drops a batch whose id it has: a replay must carry the same rows and the same
    id, however many rounds were spooled since, and whatever the next batch's size."""
    path = tmp_path / "s.db"
    spool = Spool(path)
    spool.add([("ping|sg|ADC", ["a 1", "b 2"]), ("tcp|sg|ADC", ["c 3"])])
    first = spool.peek(10)
    assert first is not None
    assert first.key is None
    fixed = spool.fix(first)
    assert fixed.key == f"{spool.id}:{first.first_id}-{first.last_id}"
    spool.add([("ping|sg|ADC", ["d 4"])])  # arrives after the batch left
    spool.close()
    spool = Spool(path)  # the agent restarted before the acknowledgement
    again = spool.peek(100)
    assert again is not None
    assert (again.key, again.chunks, again.points) == (fixed.key, fixed.chunks, fixed.points)
    after = spool.peek(100, again.last_id)  # the rest: a new batch, not fixed yet
    assert after is not None
    assert (after.chunks, after.key) == (["d 4"], None)
    spool.ack(again.last_id)
    nxt = spool.peek(100)
    assert nxt is not None
    assert nxt.key is None
    assert spool.fix(nxt).key == f"{spool.id}:{nxt.first_id}-{nxt.last_id}"


def test_every_spool_has_its_own_id_and_keeps_it(tmp_path: Path) -> None:
    """A spool deleted and made again (same path) must not repeat the old one's batch ids."""
    path = tmp_path / "s.db"
    first = Spool(path)
    kept = first.id
    first.close()
    assert Spool(path).id == kept
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert Spool(path).id != kept
    assert len(kept) == 32


def test_a_fixed_batch_dropped_by_the_bound_is_forgotten(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_bytes=10)
    spool.add([("a", ["x 1"])])
    p = spool.peek(10)
    assert p is not None
    spool.fix(p)
    spool.add([("a", ["y 22222"]), ("a", ["z 3"])])  # 3 + 7 + 3 > 10: the oldest goes
    rest = spool.peek(10)
    assert rest is not None
    assert rest.key is None
    assert rest.chunks == ["y 22222", "z 3"]


def test_a_batch_stops_short_of_its_byte_limit(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.add([("a", ["x" * 40]), ("a", ["y" * 40]), ("a", ["z" * 40])])
    p = spool.peek(1000, 0, 100)
    assert p is not None
    assert p.chunks == ["x" * 40, "y" * 40]
    one = spool.peek(1000, 0, 10)  # a round larger than the limit still leaves, alone
    assert one is not None
    assert one.chunks == ["x" * 40]
