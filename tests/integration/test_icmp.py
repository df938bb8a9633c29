"""ICMP engine on loopback: real packets, one shared socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest
from conftest import require_root
from waiting import eventually

from cablewatch.probes import icmp_wire
from cablewatch.probes.icmp import icmp_probe, icmp_probes
from cablewatch.probes.icmp_engine import IcmpEngine


def test_echo_packet_checksum_verifies() -> None:
    packet = icmp_wire.build_echo(False, 0x1234, 7, b"abcdefgh")
    assert icmp_wire.checksum(packet) == 0  # a correct checksum sums to zero
    echo = icmp_wire.parse_echo(packet, has_ip_header=False)
    assert echo is not None
    assert (echo.type, echo.identifier, echo.sequence, echo.payload) == (8, 0x1234, 7, b"abcdefgh")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ping_loopback_gives_an_rtt_per_packet(address: str) -> None:
    async def go() -> None:
        async with IcmpEngine() as engine:
            r = await icmp_probe(engine, address, count=5, interval_s=0.01, timeout_s=1.0)
        assert r.status == "ok"
        assert len(r.rtts_ms) == 5
        assert all(rtt is not None and 0 < rtt < 1000 for rtt in r.rtts_ms)
        assert r.summary is not None
        assert r.summary.loss_pct == 0.0
        assert r.ttl == 64
        assert engine.stats.foreign == 0

    asyncio.run(go())


def test_two_thousand_concurrent_probes_see_zero_loss() -> None:
    """2,000 probes in flight at once over one socket per family: every reply is matched."""
    addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(2000)]
    assert len(set(addresses)) == 2000

    async def go() -> None:
        async with IcmpEngine() as engine:
            rounds = await asyncio.gather(
                *(engine.ping(a, count=3, interval_s=0.001, timeout_s=5.0) for a in addresses)
            )
            lost = sum(r.rtts_ms.count(None) for r in rounds)
            assert lost == 0, (
                f"{lost} of 6000 replies missing; kernel drops {engine.socket_drops()}"
            )
            assert engine.stats.sent == engine.stats.replies == 6000
            assert [r.address for r in rounds] == addresses  # each round got its own replies

    asyncio.run(go())


def test_unresolvable_name_is_a_result_not_an_exception() -> None:
    async def go() -> None:
        async with IcmpEngine() as engine:
            r = await icmp_probe(engine, "no-such-host.invalid", count=1, timeout_s=1.0)
        assert r.status == "resolve_error"
        assert r.result_code == 1
        assert "no-such-host.invalid" in r.error

    asyncio.run(go())


def test_a_batch_keeps_each_target_in_its_place_whatever_its_outcome() -> None:
    """The agent's batches: literals and names together; one name fails, the rest are
    pinged in one go, and every result keeps its target and labels."""
    targets = [("127.0.0.1", {"n": "0"}), ("no-such-host.invalid", {"n": "1"}),
               ("localhost", {"n": "2"}), ("::1", {"n": "3"})]  # fmt: skip

    async def go() -> None:
        async with IcmpEngine() as engine:
            results = await icmp_probes(engine, targets, count=2, interval_s=0.01, timeout_s=1.0)
        assert [(r.target, r.labels["n"]) for r in results] == [(t, lb["n"]) for t, lb in targets]
        assert [r.status for r in results] == ["ok", "resolve_error", "ok", "ok"]
        assert results[2].address in ("127.0.0.1", "::1")
        assert all(r.summary is not None and r.summary.received == 2
                   for r in results if r.status == "ok")  # fmt: skip

    asyncio.run(go())


def test_bad_arguments_are_refused() -> None:
    async def go() -> None:
        async with IcmpEngine() as engine:
            with pytest.raises(ValueError, match="count"):
                await engine.ping("127.0.0.1", count=0)

    asyncio.run(go())


def test_a_reply_after_the_timeout_is_loss_never_an_rtt() -> None:
    """RFC 2681: with a 1 us timeout every loopback reply arrives too late and counts as lost."""

    async def go() -> None:
        async with IcmpEngine() as engine:
            r = await icmp_probe(engine, "127.0.0.1", count=4, interval_s=0.01, timeout_s=1e-6)
            assert r.status == "loss"
            assert r.rtts_ms == (None, None, None, None)
            # each reply is seen, checked against its deadline and counted late, not measured
            assert await eventually(lambda: engine.stats.late == 4)
            assert engine.stats.replies == 0

    asyncio.run(go())


def test_a_lost_reply_expires_even_after_the_sweep_emptied_its_queue() -> None:
    """Packet 0's deadline passes and the sweep drops the (then empty) queue of deadlines
    before packet 1 goes out; packet 1 is lost (echo ignored in a namespace of our own). The
    round must still end, with both lost, not wait forever (it once did: a stuck probe job)."""
    require_root()
    ns = f"cwt-icmp-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw",
                        "net.ipv4.icmp_echo_ignore_all=1"], check=True)  # fmt: skip

        async def go() -> list[float | None]:
            async with IcmpEngine(netns=ns) as engine:
                rnd = await asyncio.wait_for(
                    engine.ping("127.0.0.1", count=2, interval_s=0.2, timeout_s=0.05), 5
                )
                return rnd.rtts_ms

        assert asyncio.run(go()) == [None, None]
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)


def test_a_reply_stamped_in_time_is_not_lost_to_a_sweep_that_runs_first() -> None:
    """A busy event loop: the reply is queued (the kernel stamped it well within the timeout)
    but not yet read when the deadline sweep runs. The sweep reads what is queued before it
    expires anything: the reply counts. (It once did not: false loss at saturation.)"""

    async def go() -> list[float | None]:
        async with IcmpEngine() as engine:
            task = asyncio.create_task(
                engine.ping("127.0.0.1", count=1, interval_s=0.0, timeout_s=0.02)
            )
            await asyncio.sleep(0)  # the task sends its packet and waits for the reply
            time.sleep(0.05)  # noqa: ASYNC251 (the point: the loop is blocked, the reply queued)
            engine._on_sweep()  # the sweep's turn comes before the socket's
            return (await asyncio.wait_for(task, 5)).rtts_ms

    [rtt] = asyncio.run(go())
    assert rtt is not None
    assert rtt < 20.0


def test_round_robin_batch_matches_each_reply_to_its_round() -> None:
    addresses = [f"127.4.0.{i}" for i in range(1, 201)] + ["::1"]

    async def go() -> None:
        async with IcmpEngine() as engine:
            rounds = await engine.ping_many(addresses, count=3, interval_s=0.005, timeout_s=2.0)
            assert [r.address for r in rounds] == addresses
            assert all(None not in r.rtts_ms for r in rounds)
            assert engine.stats.clock_fallbacks == 0  # kernel receive stamps were used

    asyncio.run(go())
