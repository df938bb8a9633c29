"""The kernel's send stamps: numbered in send order, between the clock reads around each send."""

from __future__ import annotations

import contextlib
import socket
import time

from cablewatch.probes import kernel_clock


def test_each_send_is_stamped_by_the_kernel_in_order_between_the_clock_reads() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.closing(rx), contextlib.closing(tx):
        rx.bind(("127.0.0.1", 0))
        kernel_clock.enable_tx(tx)
        tx.connect(rx.getsockname())
        windows = []
        for _ in range(5):
            before = time.time_ns()
            tx.send(b"x" * 44)
            windows.append((before, time.time_ns()))
        stamps: list[tuple[int, int]] = []
        deadline = time.monotonic() + 5
        while len(stamps) < 5 and time.monotonic() < deadline:
            stamps += kernel_clock.tx_stamps(tx)
        assert [n for n, _ in stamps] == [0, 1, 2, 3, 4]
        for (_n, wall), (before, after) in zip(stamps, windows, strict=True):
            assert before <= wall <= after
        assert kernel_clock.tx_stamps(tx) == []  # read once


def test_a_socket_stamping_its_sends_has_room_for_both_receive_stamps() -> None:
    """With enable_tx the kernel reports its software stamp on received packets too: 64 octets
    of ancillary room cut that one off (MSG_CTRUNC); TX_ANC_SIZE holds both."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.closing(rx), contextlib.closing(tx):
        kernel_clock.enable(rx)
        kernel_clock.enable_tx(rx)
        rx.bind(("127.0.0.1", 0))
        before = time.time_ns()
        tx.sendto(b"x", rx.getsockname())
        _data, anc, flags, _addr = rx.recvmsg(64, kernel_clock.TX_ANC_SIZE)
        assert not flags & socket.MSG_CTRUNC
        wall = kernel_clock.rx_wall_ns(anc)
        assert wall is not None
        assert before <= wall <= time.time_ns()
