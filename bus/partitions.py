"""Which evaluator holds which partition: pure functions, tested without a network.

Paths are grouped into a fixed number of partitions by their landing station (everything one
decision needs stays together: a cable fault needs every region of its station). Each
partition has a preferred holder among the live evaluators, by rendezvous hashing (the one
whose hash with the partition is highest): adding or losing an evaluator moves only the
partitions it gains or held, and every evaluator computes the same answer from the same
member list. An evaluator claims a free partition it is preferred for at once, any other free
partition once it has been free for ``grace_s`` (its preferred holder is not taking it), and
gives up a partition whose preferred holder is alive and is not itself.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

__all__ = ["Plan", "partition_of", "plan", "preferred"]


def partition_of(station: str, partitions: int) -> int:
    """The partition a landing station's paths belong to."""
    return zlib.crc32(station.encode()) % partitions


def _score(member: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{member}/{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preferred(members: Collection[str], partition: int) -> str:
    """The live member that should hold ``partition`` (ties broken by name)."""
    return max(members, key=lambda m: (_score(m, partition), m))


@dataclass(frozen=True, slots=True)
class Plan:
    claim: list[int] = field(default_factory=list)
    release: list[int] = field(default_factory=list)


def plan(partitions: int, members: Collection[str], me: str, held: Collection[int],
         free_for_s: Mapping[int, float], grace_s: float) -> Plan:  # fmt: skip
    """What ``me`` should do now. ``held``: the partitions it holds; ``free_for_s``: each free
    partition and how long it has been seen free."""
    alive = set(members) | {me}
    out = Plan()
    for p in range(partitions):
        best = preferred(alive, p)
        if p in held:
            if best != me:
                out.release.append(p)
        elif p in free_for_s and (best == me or free_for_s[p] >= grace_s):
            out.claim.append(p)
    return out
