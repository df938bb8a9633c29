"""What one raw ICMP ``sendto`` costs on loopback: alone after an idle gap, and inside a burst.

Why an agent with few targets per batch pays more CPU a packet than fping's bursts: on
loopback the kernel makes the echo reply inside the sender's ``sendto``, and that path is far
slower when it has been idle (caches, and on a virtual machine the idle CPU's wake-up). A
socket set up as the ICMP engine sets its own (raw, SO_TIMESTAMPNS, 16 MiB buffers, echo
replies only) sends bursts of 1, 10, 100 and 1,000 echo requests to loopback addresses, 50
times each with --gap-ms of idle between bursts; each ``sendto`` is timed with the monotonic
clock and the replies are drained after each burst. Needs root (raw socket). Last line:

    alone_us=X burst_us=Y ratio=R
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import time

from cablewatch.probes import icmp_wire

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def engine_like_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 16 << 20)
    sock.setsockopt(socket.SOL_SOCKET, _SO_SNDBUFFORCE, 16 << 20)
    mask = 0xFFFFFFFF & ~(1 << icmp_wire.ECHO_REPLY_V4)  # ICMP_FILTER: echo replies only
    sock.setsockopt(255, 1, struct.pack("I", mask))
    return sock


def burst_costs_us(sock: socket.socket, size: int, bursts: int, gap_s: float) -> list[float]:
    packet = icmp_wire.build_echo(False, 0x4357, 1, bytes(56))
    dests = [(f"127.4.{i // 250}.{i % 250 + 1}", 0) for i in range(size)]
    costs: list[float] = []
    for _ in range(bursts):
        time.sleep(gap_s)  # the idle gap being measured, not a wait for a condition
        for dest in dests:
            t0 = time.monotonic_ns()
            sock.sendto(packet, dest)
            costs.append((time.monotonic_ns() - t0) / 1000)
        while True:
            try:
                sock.recvmsg(2048, 64)
            except BlockingIOError:
                break
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=50)
    parser.add_argument("--gap-ms", type=float, default=10.0)
    args = parser.parse_args()
    sock = engine_like_socket()
    medians: dict[int, float] = {}
    print(f"sendto cost, {args.bursts} bursts each, {args.gap_ms:g} ms idle before each:")
    for size in (1, 10, 100, 1000):
        costs = burst_costs_us(sock, size, args.bursts, args.gap_ms / 1000)
        medians[size] = statistics.median(costs)
        costs.sort()
        print(f"  burst of {size:>5}: median {medians[size]:6.1f} us, "
              f"p90 {costs[int(0.9 * len(costs))]:6.1f} us")  # fmt: skip
    sock.close()
    alone, burst = medians[1], medians[1000]
    print(f"alone_us={alone:.1f} burst_us={burst:.1f} ratio={alone / burst:.1f}")


if __name__ == "__main__":
    main()
