"""Which evaluator holds which partition (bus/partitions.py) and the lease's value format."""

from __future__ import annotations

import pytest

from cablewatch.bus.lease import LeaseValue, NotOurs
from cablewatch.bus.partitions import partition_of, plan, preferred

P = 64


def test_every_member_agrees_and_the_share_is_even_enough() -> None:
    members = ["eval-a", "eval-b", "eval-c"]
    owners = [preferred(members, p) for p in range(P)]
    assert owners == [preferred(list(reversed(members)), p) for p in range(P)]  # any order
    counts = {m: owners.count(m) for m in members}
    assert all(12 <= n <= 32 for n in counts.values()), counts  # 21.3 each on average


def test_a_member_joining_moves_only_what_it_gains() -> None:
    before = [preferred(["a", "b", "c"], p) for p in range(P)]
    after = [preferred(["a", "b", "c", "d"], p) for p in range(P)]
    moved = [p for p in range(P) if before[p] != after[p]]
    assert moved
    assert all(after[p] == "d" for p in moved)


def test_a_member_leaving_moves_only_what_it_held() -> None:
    before = [preferred(["a", "b", "c"], p) for p in range(P)]
    after = [preferred(["a", "b"], p) for p in range(P)]
    assert all(before[p] == "c" for p in range(P) if before[p] != after[p])


def test_plan_claims_its_own_at_once_others_after_the_grace_and_hands_over() -> None:
    members = ["a", "b"]
    mine = [p for p in range(8) if preferred(members, p) == "a"]
    theirs = [p for p in range(8) if preferred(members, p) == "b"]
    assert mine
    assert theirs
    free = dict.fromkeys(range(8), 0.0)
    assert plan(8, members, "a", [], free, grace_s=4.0).claim == mine
    late = dict.fromkeys(range(8), 5.0)  # b has not taken its own for 5 s
    assert plan(8, members, "a", [], late, grace_s=4.0).claim == list(range(8))
    handover = plan(8, members, "a", range(8), {}, grace_s=4.0)  # a holds everything, b is up
    assert (handover.claim, handover.release) == ([], theirs)
    alone = plan(8, ["a"], "a", range(8), {}, grace_s=4.0)  # b gone: a keeps everything
    assert (alone.claim, alone.release) == ([], [])


def test_a_station_always_maps_to_the_same_partition() -> None:
    assert partition_of("shantou", P) == partition_of("shantou", P)
    assert 0 <= partition_of("shantou", P) < P
    assert len({partition_of(f"station-{i}", P) for i in range(200)}) > P // 2


def test_a_lease_value_is_ours_or_refused() -> None:
    v = LeaseValue("eval-a", "host-1", 42)
    assert LeaseValue.decode(v.encode()) == v
    for foreign in (b"", b"hello", b'{"holder": "x"}', b"[1]", None):
        with pytest.raises(NotOurs):
            LeaseValue.decode(foreign)
