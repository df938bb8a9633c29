"""STAMP over real sockets on loopback: `cablewatch reflect` (the command, a process of its own)
answers packets that scapy built, and our session-sender measures through it; loss is told
apart by direction; a reflector that is silent, refuses, or answers garbage gives loss or a
count of foreign replies, never a number."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import cast

from conftest import cablewatch_cmd
from scapy.contrib.stamp import (
    ErrorEstimate,
    STAMPSessionReflectorTestUnauthenticated,
    STAMPSessionSenderTestUnauthenticated,
)
from servers import free_port

from cablewatch.collectors.lineprotocol import result_lines
from cablewatch.probes import stamp_wire as w
from cablewatch.probes.result import ProbeResult
from cablewatch.probes.stamp import StampRound, stamp_probe, stamp_round
from cablewatch.reflector.stamp import Reflector

NTP_EPOCH_NS = 2_208_988_800 * 10**9


def _round(port: int, **kw: float) -> StampRound:
    return asyncio.run(stamp_round("127.0.0.1", port, **kw))  # type: ignore[arg-type]


@contextlib.contextmanager
def reflect(*args: str) -> Iterator[int]:
    """`cablewatch reflect` on a loopback port, answering once it answers (or, refusing
    everyone, once it has logged that it listens)."""
    port = free_port()
    proc = subprocess.Popen(cablewatch_cmd("reflect", "--listen", f"127.0.0.1:{port}", *args),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the one line it logs when it listens
        assert "STAMP reflector on 127.0.0.1" in line, line
        yield port
    finally:
        proc.terminate()
        code = proc.wait(timeout=10)
        assert proc.stderr is not None
        said = proc.stderr.read()
        proc.stderr.close()
        assert code == 0, said  # SIGTERM: a clean stop


def test_scapys_session_sender_packets_come_back_as_scapy_expects() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with reflect("--allow", "127.0.0.0/8") as port, contextlib.closing(sock):
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        for k in range(3):
            t1 = time.time_ns()
            ntp = w.ntp_from_ns(t1)
            sent = STAMPSessionSenderTestUnauthenticated(
                seq=100 + k, ts=Decimal(ntp) / Decimal(2**32),
                err_estimate=ErrorEstimate(S=0, scale=12, multiplier=200), ssid=4242)  # fmt: skip
            sock.send(bytes(sent))
            data = sock.recv(2048)
            t4 = time.time_ns()
            r = STAMPSessionReflectorTestUnauthenticated(data)
            assert len(data) == 44
            assert (r.seq, r.seq_sender, r.ssid) == (k, 100 + k, 4242)
            assert r.ttl_sender == 64  # the kernel's, as our packet arrived
            assert bytes(r.err_estimate_sender) == bytes(sent.err_estimate)
            ts_sender = int(r.ts_sender * 10**9) - NTP_EPOCH_NS
            rx = int(r.ts_rx * 10**9) - NTP_EPOCH_NS
            tx = int(r.ts * 10**9) - NTP_EPOCH_NS
            assert abs(ts_sender - t1) <= 1
            assert t1 <= rx <= tx <= t4  # one clock: the reflector's times within ours


def test_a_round_through_cablewatch_reflect_measures_both_ways() -> None:
    with reflect("--allow", "127.0.0.1") as port:
        out = _round(port, count=5, interval_s=0.02, timeout_s=1.0)
    assert out.received == 5
    assert (out.lost_forward, out.lost_reverse, out.lost_unknown, out.foreign) == (0, 0, 0, 0)
    for fwd, rev, rtt in zip(out.forward_ms, out.reverse_ms, out.rtt_ms, strict=True):
        assert fwd is not None
        assert rev is not None
        assert rtt is not None
        # one clock (loopback): each direction is >= 0 and the round trip is their sum
        assert 0 <= fwd < 50
        assert 0 <= rev < 50
        assert abs(rtt - (fwd + rev)) < 1e-6
    assert out.sender_ttl == [64] * 5
    assert out.error_bound_ms is not None  # both ends' estimates (this host: adjtimex)


class _Lossy(asyncio.DatagramProtocol):
    """A reflector on a loopback port that loses chosen packets: ``out`` before it sees them
    (forward loss), ``back`` after it counted them (reverse loss); ``garbage``: answers with
    a truncated packet instead; ``skew_ns``: its clock that far off, claiming 0.1 ms."""

    def __init__(self, out: set[int], back: set[int], garbage: bool = False,
                 skew_ns: int = 0) -> None:  # fmt: skip
        self.reflector = Reflector(allow_any=True,
                                   error=w.encode_error(0.0001, synchronized=True))  # fmt: skip
        self.out, self.back, self.garbage, self.skew_ns = out, back, garbage, skew_ns
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        seq = w.parse_sender(data).seq
        if seq in self.out:
            return
        now = time.time_ns() + self.skew_ns
        reply = self.reflector.answer(data, addr, now, 64, now)
        assert self.transport is not None
        if reply is not None and seq not in self.back:
            self.transport.sendto(reply[:20] if self.garbage else reply, addr)


def _lossy_round(out: set[int], back: set[int], garbage: bool = False) -> StampRound:
    async def go() -> StampRound:
        port = free_port()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Lossy(out, back, garbage), local_addr=("127.0.0.1", port))  # fmt: skip
        try:
            return await stamp_round("127.0.0.1", port, count=6, interval_s=0.01, timeout_s=0.3)
        finally:
            transport.close()

    return asyncio.run(go())


def test_loss_is_told_apart_by_direction_from_the_reflectors_count() -> None:
    got = _lossy_round(out={1}, back={3})
    assert got.received == 4
    assert (got.lost_forward, got.lost_reverse, got.lost_unknown) == (1, 1, 0)
    assert got.rtt_ms[1] is None
    assert got.rtt_ms[3] is None
    trailing = _lossy_round(out={2, 5}, back={4})  # after the last answer: direction unknown
    assert (trailing.lost_forward, trailing.lost_reverse, trailing.lost_unknown) == (1, 0, 2)


def test_a_reflector_that_refuses_is_silent_or_answers_garbage_gives_loss_not_numbers() -> None:
    with reflect("--allow", "10.0.0.0/8") as port:  # we are not in its allow list
        refused = _round(port, count=3, interval_s=0.01, timeout_s=0.3)
    assert refused.received == 0
    assert refused.lost_unknown == 3
    assert refused.error_bound_ms is None
    silent = _round(free_port(), count=3, interval_s=0.01, timeout_s=0.3)  # nobody there
    assert silent.received == 0
    assert silent.forward_ms == [None, None, None]
    garbage = _lossy_round(out=set(), back=set(), garbage=True)
    assert garbage.received == 0
    assert garbage.foreign == 6
    assert garbage.rtt_ms == [None] * 6


def test_the_stamp_command_shows_both_directions_and_fails_on_loss() -> None:
    with reflect("--allow", "127.0.0.1") as port:
        done = subprocess.run(cablewatch_cmd("stamp", f"127.0.0.1:{port}", "-c", "3", "-i",
                                             "0.01", "--json"),
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        table = subprocess.run(cablewatch_cmd("stamp", f"127.0.0.1:{port}", "-c", "2"),
                               capture_output=True, text=True, timeout=30, check=False,
                               env=os.environ | {"COLUMNS": "200"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["protocol"], result["status"]) == ("stamp", "ok")
    oneway = result["oneway"]
    assert len([v for v in oneway["forward_ms"] if v is not None]) == 3
    assert (oneway["lost_forward"], oneway["lost_reverse"], oneway["lost_unknown"]) == (0, 0, 0)
    assert table.returncode == 0, table.stderr
    assert "fwd ms" in table.stdout
    assert "rev ms" in table.stdout
    with reflect("--allow", "10.0.0.0/8") as port:
        argv = cablewatch_cmd("stamp", f"127.0.0.1:{port}", "-c", "2", "-W", "0.3", "--json")
        refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 1
    [lost] = json.loads(refused.stdout)
    assert lost["status"] == "loss"
    assert lost["oneway"]["lost_unknown"] == 2
    bad = subprocess.run(cablewatch_cmd("stamp", "127.0.0.1:99999"), capture_output=True,
                         text=True, timeout=30, check=False)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("cablewatch: ")


def test_the_clocks_bound_is_both_ends_and_flags_one_way_figures_it_swamps() -> None:
    """Our configured bound plus the reflector's (in its replies' error estimate); one-way
    figures are trusted only when that is a small part of the path's one-way floor."""
    with reflect("--allow", "127.0.0.1", "--clock-error-ms", "0.25") as port:

        async def go(error_s: float, floor: float | None) -> ProbeResult:
            return await stamp_probe("127.0.0.1", port=port, count=2, interval_s=0.01,
                                     timeout_s=1.0, clock_error_s=error_s,
                                     floor_one_way_ms=floor, max_error_pct=10.0)  # fmt: skip

        good = asyncio.run(go(0.0005, 30.0))
        swamped = asyncio.run(go(16.0, 30.0))
        unknown = asyncio.run(go(0.0005, None))
    assert good.oneway is not None
    assert swamped.oneway is not None
    assert unknown.oneway is not None
    bound = good.oneway.error_bound_ms
    assert bound is not None
    assert 0.75 <= bound <= 0.76  # 0.5 + 0.25 ms, each rounded up a multiplier step at most
    assert good.oneway.synchronized  # both ends given a bound
    assert good.oneway.trusted is True  # 0.75 ms of a 30 ms floor
    assert swamped.oneway.trusted is False  # 16 s: stored, flagged
    assert unknown.oneway.trusted is None  # no floor to judge against
    [line] = result_lines(swamped, "h")
    assert "oneway_trusted=false" in line


def test_a_reflector_minutes_off_flags_one_way_figures_and_keeps_the_round_trip() -> None:
    """Its clock 3 minutes ahead while it claims 0.1 ms: one-way figures are absurd (one
    direction +3 min, the other -3 min), so never trusted; the round trip stays exact."""

    async def go() -> ProbeResult:
        port = free_port()
        ahead = 180 * 10**9
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Lossy(set(), set(), skew_ns=ahead), local_addr=("127.0.0.1", port)
        )
        try:
            return await stamp_probe("127.0.0.1", port=port, count=3, interval_s=0.01,
                                     timeout_s=1.0, clock_error_s=0.0001,
                                     floor_one_way_ms=30.0)  # fmt: skip
        finally:
            transport.close()

    got = asyncio.run(go())
    assert got.oneway is not None
    assert got.oneway.trusted is False  # the bound (0.2 ms) is small, the figures absurd
    fwd = [f for f in got.oneway.forward_ms if f is not None]
    assert fwd
    assert all(f > 170_000 for f in fwd)
    assert all(r is not None and 0 <= r < 50 for r in got.rtts_ms)  # exact: one clock per side
