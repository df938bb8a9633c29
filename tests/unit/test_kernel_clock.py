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
