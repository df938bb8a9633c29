"""Running the lab through its CLI, as a NOC engineer would, for the namespace tests."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import cablewatch_cmd

from cablewatch.probes.icmp_engine import IcmpEngine
from cablewatch.probes.stats import summarize

CABLES = ("ADC", "SJC", "APCN-2")


@dataclass(frozen=True)
class Lab:
    state_dir: Path
    prefix: str
    mgmt_subnet: str

    @property
    def env(self) -> dict[str, str]:
        return os.environ | {
            "CABLEWATCH_LAB_DIR": str(self.state_dir),
            "CABLEWATCH_LAB_PREFIX": self.prefix,
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            cablewatch_cmd("lab", *args), env=self.env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)}: exit {proc.returncode}: {proc.stderr}")
        return proc

    def up(self) -> str:
        return self.run("up", "--mgmt-subnet", self.mgmt_subnet, "--seed", "7").stdout

    def targets(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("targets", "--json").stdout)
        return result

    def applied_rtt_ms(self) -> dict[tuple[str, str], float]:
        """The emulator's ground truth since the previous call (the first starts its record):
        each path's median delay as applied, up plus down (configured delay, jitter and the
        emulator's own lateness). Empty on the first call."""
        from cablewatch.harness.returns import applied_medians
        from cablewatch.lab.manager import LabOptions

        both = applied_medians(LabOptions(state_dir=self.state_dir, prefix=self.prefix))
        return {key: up + down for key, (up, down) in both.items()
                if not (math.isnan(up) or math.isnan(down))}  # fmt: skip

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run("status", "--json").stdout)
        return result

    def ping_all(self, count: int = 5, timeout_s: float = 1.0) -> dict[tuple[str, str], Any]:
        """From every region at once (an engine whose sockets live in each region's
        namespace), one round to each cable's target: (region, cable) -> round summary."""
        targets = self.targets()

        async def go() -> dict[tuple[str, str], Any]:
            engines = {r: IcmpEngine(netns=c["ADC"]["namespace"]) for r, c in targets.items()}
            try:
                rounds = await asyncio.gather(
                    *(
                        engines[r].ping_many(
                            [targets[r][c]["target"] for c in CABLES],
                            count=count,
                            interval_s=0.02,
                            timeout_s=timeout_s,
                        )
                        for r in targets
                    )
                )
            finally:
                for engine in engines.values():
                    engine.close()
            out = {}
            for region, per_cable in zip(targets, rounds, strict=True):
                for cable, rnd in zip(CABLES, per_cable, strict=True):
                    floor = targets[region][cable]["floor_rtt_ms"]
                    out[(region, cable)] = summarize(rnd.rtts_ms).fields() | {"floor": floor}
            return out

        return asyncio.run(go())


def leftovers(lab: Lab) -> list[str]:
    """Anything of ``lab`` still on the host: namespaces, links, processes, files."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [ln.split()[0] for ln in netns.stdout.splitlines() if ln.startswith(lab.prefix + "-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    for line in links.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith((f"{lab.prefix}-", f"{lab.prefix}m")):
            found.append(f"link {name}")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(lab.state_dir) in cmdline and entry.name != str(os.getpid()):
                found.append(f"process {entry.name}: {cmdline.replace(chr(0), ' ')}")
    found += [str(p) for p in Path("/etc/netns").glob(f"{lab.prefix}-*")]
    if lab.state_dir.exists():
        found.append(f"state dir {lab.state_dir}")
    return found
