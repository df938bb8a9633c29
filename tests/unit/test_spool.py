"""The spool: commit before send, ack after, bounded, crash-safe (a real SIGKILL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cablewatch.agent.spool import Spool


def test_points_stay_until_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.add([("ping|sg|ADC", ["a 1", "b 2"]), ("tcp|sg|ADC", ["c 3"])])
    batch = spool.peek(2)
    assert [line for _id, line in batch] == ["a 1", "b 2"]
    spool.ack(batch[-1][0])
    assert [line for _id, line in spool.peek(10)] == ["c 3"]
    assert spool.depth().points == 1
    assert spool.depth().bytes == 3
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
    assert [line for _id, line in spool.peek(10)] == ["abcdefghij", "ABCDEFGHIJ"]
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
