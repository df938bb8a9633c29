"""Lab life cycle: up, down, link state (cut / degrade / restore), status, targets.

Everything the lab is lives in one state file (``<state_dir>/lab.json``): the plan's paths and
namespaces, the processes (emulator, landing-station services) with their start times, and
the link settings asked for. ``up`` is idempotent: an intact lab is left alone, dead processes are
restarted, and a partial one is removed and rebuilt. ``down`` removes everything by name prefix,
so it also cleans up after a crash or a SIGKILL of the emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cablewatch.config import Config
from cablewatch.errors import CablewatchError
from cablewatch.lab import control, netns
from cablewatch.lab.plan import LabPlan, build_plan, slug
from cablewatch.probes.dns import DnsSettings
from cablewatch.probes.http import HttpSettings
from cablewatch.probes.tcp import TcpSettings
from cablewatch.topology.model import lookup

__all__ = [
    "LabOptions",
    "down",
    "exec_command",
    "load_state",
    "require_root",
    "reroute",
    "reroute_return",
    "restore",
    "return_routes",
    "set_links",
    "status",
    "targets",
    "up",
]

STATE_VERSION = 3
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class LabOptions:
    state_dir: Path = Path(os.environ.get("CABLEWATCH_LAB_DIR", "/run/cablewatch-lab"))
    prefix: str = os.environ.get("CABLEWATCH_LAB_PREFIX", "cw")
    mgmt_subnet: str = "198.18.255.0/24"
    think_ms: float = 200.0
    token_ms: float = 20.0
    token_port: int = 8080
    seed: int | None = None

    @property
    def state_file(self) -> Path:
        return self.state_dir / "lab.json"


def require_root() -> None:
    if os.geteuid() != 0:
        raise CablewatchError(
            "the lab needs root (network namespaces, TUN devices): run it as root"
        )


# -- state ----------------------------------------------------------------------------------


def load_state(opts: LabOptions) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(opts.state_file.read_text())
    except FileNotFoundError:
        raise CablewatchError(
            f"no lab is up (no state in {opts.state_file}): run `cablewatch lab up`"
        ) from None
    except ValueError as exc:
        raise CablewatchError(f"{opts.state_file}: unreadable lab state: {exc}") from exc
    if state.get("version") != STATE_VERSION:
        raise CablewatchError(f"{opts.state_file}: lab state of another version; `lab down` it")
    return state


def _save(opts: LabOptions, state: dict[str, Any]) -> None:
    tmp = opts.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(opts.state_file)


def _state_from_plan(plan: LabPlan, config: Config, opts: LabOptions) -> dict[str, Any]:
    topology = config.topology
    return {
        "version": STATE_VERSION,
        "config": str(config.source),
        "prefix": plan.prefix,
        "bridge": plan.mgmt_bridge,
        "mgmt_host_addr": plan.mgmt_host_addr,
        "mgmt_region_addr": plan.mgmt_region_addr,
        "station_ns": plan.station_ns,
        "region_ns": plan.region_ns,
        "namespaces": list(plan.namespaces),
        "cables": [c.name for c in topology.cables],
        "station_addresses": plan.station_addresses,
        "service_vip": plan.service_vip,
        "station_next_hops": plan.station_next_hop,
        "returns": {},
        "segments": [
            {
                "name": s.name,
                "cable": s.cable,
                "lp_ns": s.lp_ns,
                "lp_dev": s.lp_dev,
                "shantou_ns": s.shantou_ns,
                "shantou_dev": s.shantou_dev,
            }
            for s in plan.segments
        ],
        "paths": [
            {
                "region": p.region,
                "cable": p.cable,
                "landing_point": p.landing_point,
                "segment": p.segment,
                "namespace": p.region_ns,
                "source": p.region_addr,
                "dev": p.region_dev,
                "next_hop": p.router_addr,
                "access_net": p.access_net,
                "target": p.target,
                "one_way_ms": p.one_way_ms,
                "floor_rtt_ms": p.floor_rtt_ms,
                "hops": [list(h) for h in p.hops],
            }
            for p in plan.paths
        ],
        "services": {
            "tcp_port": config.probe.of(TcpSettings).tcp_port,
            "http_port": config.probe.of(HttpSettings).http_port,
            "dns_port": config.probe.of(DnsSettings).dns_port,
            "dns_name": config.probe.of(DnsSettings).dns_name,
            "token_port": opts.token_port,
            "think_ms": opts.think_ms,
            "token_ms": opts.token_ms,
        },
        "overrides": {},
        "processes": {},
    }


# -- processes --------------------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap our own child
        return None
    return int(fields[19])


def _alive(proc: dict[str, Any] | None) -> bool:
    return proc is not None and _start_ticks(proc["pid"]) == proc["start"]


def _spawn(args: list[str], log: Path) -> dict[str, Any]:
    with log.open("ab") as out:
        child = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    start = _start_ticks(child.pid)
    return {"pid": child.pid, "start": start, "args": args, "log": str(log)}


def _stop(proc: dict[str, Any] | None, timeout_s: float = 5.0) -> None:
    if not _alive(proc):
        return
    assert proc is not None
    pid = proc["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(proc) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(proc) and time.monotonic() < deadline + 2:
            time.sleep(0.02)


def _wait_for(what: str, check: Any, proc: dict[str, Any]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if not _alive(proc):
            break
        time.sleep(0.02)
    log = Path(proc["log"]).read_text(errors="replace").strip().splitlines()[-3:]
    raise CablewatchError(f"the lab's {what} did not start: {' | '.join(log) or 'no output'}")


def _start_emulator(opts: LabOptions, state: dict[str, Any]) -> dict[str, Any]:
    sock = str(opts.state_dir / "emulator.sock")
    spec = {
        "control": sock,
        "seed": opts.seed,
        "segments": state["segments"],
        "paths": [
            p | {"overrides": state["overrides"].get(f"{p['region']}|{p['cable']}", {})}
            for p in state["paths"]
        ],
    }
    spec_file = opts.state_dir / "emulator.json"
    spec_file.write_text(json.dumps(spec))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    proc = _spawn(
        [sys.executable, "-m", "cablewatch.lab.emulator", str(spec_file)],
        opts.state_dir / "emulator.log",
    )

    def answers() -> bool:
        try:
            control.request(sock, {"cmd": "status"}, timeout_s=1.0)
        except CablewatchError:
            return False
        return True

    _wait_for("link emulator", answers, proc)
    return proc


def _start_services(opts: LabOptions, state: dict[str, Any]) -> dict[str, Any]:
    ready = opts.state_dir / "services.ready"
    ready.unlink(missing_ok=True)
    spec = state["services"] | {
        "addresses": [*state["station_addresses"].values(), state["service_vip"]],
        "ready_file": str(ready),
    }
    spec_file = opts.state_dir / "services.json"
    spec_file.write_text(json.dumps(spec))
    proc = _spawn(
        ["ip", "netns", "exec", state["station_ns"], sys.executable, "-m",
         "cablewatch.lab.services", str(spec_file)],
        opts.state_dir / "services.log",
    )  # fmt: skip
    _wait_for("landing-station services", ready.exists, proc)
    return proc


# -- life cycle -----------------------------------------------------------------------------


def up(config: Config, opts: LabOptions) -> tuple[dict[str, Any], str]:
    """Bring the lab up (or repair it); returns the state and what was done."""
    require_root()
    opts.state_dir.mkdir(parents=True, exist_ok=True)
    if opts.state_file.exists():
        state = load_state(opts)
        present = set(netns.existing_namespaces(state["prefix"]))
        if present == set(state["namespaces"]):
            restarted = []
            if not _alive(state["processes"].get("emulator")):
                state["processes"]["emulator"] = _start_emulator(opts, state)
                restarted.append("link emulator")
            if not _alive(state["processes"].get("services")):
                state["processes"]["services"] = _start_services(opts, state)
                restarted.append("landing-station services")
            _save(opts, state)
            if restarted:
                return state, "lab was up; restarted " + " and ".join(restarted)
            return state, "lab is already up"
        down(opts)
        opts.state_dir.mkdir(parents=True, exist_ok=True)
    elif netns.existing_namespaces(opts.prefix):
        down(opts)  # leftovers of a lab whose state was lost
        opts.state_dir.mkdir(parents=True, exist_ok=True)
    plan = build_plan(config, prefix=opts.prefix, mgmt_subnet=opts.mgmt_subnet)
    state = _state_from_plan(plan, config, opts)
    _save(opts, state)  # first, so that `lab down` finds a half-built lab
    try:
        netns.create(plan)
        state["processes"]["emulator"] = _start_emulator(opts, state)
        _save(opts, state)
        state["processes"]["services"] = _start_services(opts, state)
        _save(opts, state)
    except BaseException:
        down(opts)
        raise
    return state, (
        f"lab up: {len(plan.namespaces)} namespaces, {len(plan.segments)} emulated cable "
        f"segments, {len(plan.paths)} region x cable paths"
    )


def down(opts: LabOptions) -> list[str]:
    """Stop the lab's processes and remove its namespaces, links and files."""
    require_root()
    prefix, bridge = opts.prefix, f"{opts.prefix}-mgmt"
    removed: list[str] = []
    state: dict[str, Any] | None = None
    with contextlib.suppress(CablewatchError):
        state = load_state(opts)
    if state is not None:
        prefix, bridge = state["prefix"], state["bridge"]
        for name, proc in state.get("processes", {}).items():
            if _alive(proc):
                _stop(proc)
                removed.append(f"{name} (pid {proc['pid']})")
    removed += _kill_strays(opts)
    removed += netns.destroy(prefix, bridge)
    for name in ("lab.json", "lab.tmp", "emulator.json", "emulator.sock", "services.json",
                 "services.ready", "emulator.log", "services.log"):  # fmt: skip
        (opts.state_dir / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        opts.state_dir.rmdir()
    return removed


def _kill_strays(opts: LabOptions) -> list[str]:
    """Processes of this lab that the state does not know (state lost or overwritten)."""
    marks = [str(opts.state_dir / "emulator.json"), str(opts.state_dir / "services.json")]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.decode(errors="replace") in marks for a in argv):
            start = _start_ticks(int(entry.name))
            if start is not None:
                _stop({"pid": int(entry.name), "start": start})
                found.append(f"stray process {entry.name}")
    return found


# -- links ----------------------------------------------------------------------------------


def _resolve(
    state: dict[str, Any], cable: str | None, region: str | None
) -> tuple[str | None, str | None]:
    """Canonical cable name and region id (either may be None: not asked)."""
    cable_name = None if cable is None else lookup("cable", cable, state["cables"])
    region_id = None if region is None else lookup("region", region, list(state["region_ns"]))
    return cable_name, region_id


def set_links(
    opts: LabOptions, cable: str, region: str | None, params: dict[str, Any],
    landing_point: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Cut or degrade a cable (for one region, every region joining it at one landing point,
    or all); returns the emulator's reply (``matched``: the paths changed)."""
    require_root()
    state = load_state(opts)
    cable_name, region_id = _resolve(state, cable, region)
    on = [p for p in state["paths"] if p["cable"] == cable_name]
    regions: list[str | None] = [region_id]
    if landing_point is not None:
        points = sorted({p["landing_point"] for p in on})
        lp = lookup(f"landing point of {cable_name}", landing_point, points)
        regions = [p["region"] for p in on
                   if p["landing_point"] == lp and region_id in (None, p["region"])]  # fmt: skip
    for p in on:
        if p["region"] in regions or regions == [None]:
            key = f"{p['region']}|{p['cable']}"
            state["overrides"][key] = state["overrides"].get(key, {}) | params
    _save(opts, state)
    sock, matched = str(opts.state_dir / "emulator.sock"), 0
    for rid in regions:
        reply = control.request(sock, {"cmd": "set", "cable": cable_name, "region": rid, **params})
        matched += int(reply.get("matched", 0))
    return {"matched": matched}


def restore(opts: LabOptions, cable: str | None) -> dict[str, Any]:
    require_root()
    state = load_state(opts)
    cable_name, _ = _resolve(state, cable, None)
    state["overrides"] = {
        k: v for k, v in state["overrides"].items() if cable_name not in (None, k.split("|")[1])
    }
    _save(opts, state)
    return control.request(
        str(opts.state_dir / "emulator.sock"), {"cmd": "restore", "cable": cable_name}
    )


def reroute(opts: LabOptions, region: str, cable: str) -> dict[str, Any]:
    """Move ``region``'s route to the service address onto ``cable``, as a BGP change would:
    nothing is cut, and the way back follows (the station routes by the source address, which
    is the region's address on that cable). Returns the path now in use."""
    require_root()
    state = load_state(opts)
    cable_name, region_id = _resolve(state, cable, region)
    path = next((p for p in state["paths"]
                 if p["region"] == region_id and p["cable"] == cable_name), None)  # fmt: skip
    if path is None:
        raise CablewatchError(f"region {region_id} has no path over {cable_name}")
    netns.run(["ip", "-n", path["namespace"], "route", "replace", f"{state['service_vip']}/32",
               "via", path["next_hop"], "dev", path["dev"], "src", path["source"]])  # fmt: skip
    return {"region": region_id, "cable": cable_name, "service_address": state["service_vip"],
            "next_hop": path["next_hop"], "source": path["source"]}  # fmt: skip


def reroute_return(opts: LabOptions, region: str, cable: str | None) -> dict[str, Any]:
    """Route the landing station's replies to every address of ``region`` back over ``cable``
    (None: each address over its own cable again, symmetric), as the station's routing would:
    the station, the cable's Shantou router and its landing-point router get a route to each of
    the region's other access networks; a path out over one cable then comes back over
    another. Returns the return cable of each of the region's paths."""
    require_root()
    state = load_state(opts)
    cable_name, region_id = _resolve(state, cable, region)
    assert region_id is not None
    mine = {p["cable"]: p for p in state["paths"] if p["region"] == region_id}
    if cable_name is not None and cable_name not in mine:
        raise CablewatchError(f"region {region_id} has no path over {cable_name}")
    undo = state["returns"].get(region_id)
    if undo is not None:
        for cmd in _return_route_commands(state, mine, region_id, undo):
            with contextlib.suppress(CablewatchError):  # a repaired lab has none
                netns.run([*cmd[:4], "del", cmd[5]])
    if cable_name is not None:
        for cmd in _return_route_commands(state, mine, region_id, cable_name):
            netns.run(cmd)
        state["returns"][region_id] = cable_name
    else:
        state["returns"].pop(region_id, None)
    _save(opts, state)
    return {"region": region_id, "returns": return_routes(opts)[region_id]}


def _return_route_commands(
    state: dict[str, Any], mine: dict[str, dict[str, Any]], region: str, back: str
) -> list[list[str]]:
    """The ``ip route replace`` commands that bring ``region``'s other access networks back
    over ``back``: at the station, the cable's Shantou router, its landing-point router."""
    over = mine[back]
    seg = next(s for s in state["segments"] if s["name"] == over["segment"])
    hop = state["station_next_hops"][back]
    out = []
    for cable, p in mine.items():
        if cable == back:
            continue
        net = p["access_net"]
        out += [
            ["ip", "-n", state["station_ns"], "route", "replace", net, "via", hop,
             "dev", slug(back)],
            ["ip", "-n", seg["shantou_ns"], "route", "replace", net, "dev", seg["shantou_dev"]],
            ["ip", "-n", seg["lp_ns"], "route", "replace", net, "via", over["source"],
             "dev", slug(region)],
        ]  # fmt: skip
    return out


def return_routes(opts: LabOptions) -> dict[str, dict[str, str]]:
    """Region -> cable -> the cable the station's replies to that path take now (read from the
    station's kernel routes)."""
    state = load_state(opts)
    by_hop = {hop: cable for cable, hop in state["station_next_hops"].items()}
    out: dict[str, dict[str, str]] = {}
    for p in state["paths"]:
        words = netns.run(["ip", "-n", state["station_ns"], "route", "get", p["source"]]).split()
        hop = words[words.index("via") + 1] if "via" in words else ""
        out.setdefault(p["region"], {})[p["cable"]] = by_hop.get(hop, "unknown")
    return out


def service_routes(opts: LabOptions) -> dict[str, str]:
    """Region -> the cable its route to the service address takes now (read from the kernel)."""
    state = load_state(opts)
    by_hop = {(p["region"], p["next_hop"]): p["cable"] for p in state["paths"]}
    out: dict[str, str] = {}
    for region, ns in state["region_ns"].items():
        text = netns.run(["ip", "-n", ns, "route", "get", state["service_vip"]])
        words = text.split()
        hop = words[words.index("via") + 1] if "via" in words else ""
        out[region] = by_hop.get((region, hop), "unknown")
    return out


def status(opts: LabOptions) -> dict[str, Any]:
    require_root()
    state = load_state(opts)
    out: dict[str, Any] = {
        "state_file": str(opts.state_file),
        "namespaces_present": len(set(netns.existing_namespaces(state["prefix"]))),
        "namespaces_expected": len(state["namespaces"]),
        "processes": {n: _alive(p) for n, p in state["processes"].items()},
    }
    try:
        emu = control.request(str(opts.state_dir / "emulator.sock"), {"cmd": "status"})
        out["emulator"] = {"pid": emu["pid"], "uptime_s": emu["uptime_s"], "cpu_s": emu["cpu_s"]}
        out["paths"] = emu["paths"]
    except CablewatchError as exc:
        out["emulator"] = {"error": str(exc)}
        out["paths"] = [p | {"state": "unknown"} for p in state["paths"]]
    try:
        out["service_routes"] = service_routes(opts)
        out["return_routes"] = return_routes(opts)
    except CablewatchError as exc:
        out["service_routes"] = out["return_routes"] = {"error": str(exc)}
    return out


def targets(opts: LabOptions) -> dict[str, Any]:
    state = load_state(opts)
    out: dict[str, Any] = {}
    for p in state["paths"]:
        out.setdefault(p["region"], {})[p["cable"]] = {
            "target": p["target"],
            "source": p["source"],
            "namespace": p["namespace"],
            "landing_point": p["landing_point"],
            "floor_rtt_ms": p["floor_rtt_ms"],
            "hops": [name for _addr, name in p["hops"]],
        }
    return out


def exec_command(opts: LabOptions, region: str, command: list[str]) -> list[str]:
    """The argv that runs ``command`` inside ``region``'s namespace."""
    require_root()
    state = load_state(opts)
    _, region_id = _resolve(state, None, region)
    assert region_id is not None
    if not command:
        raise CablewatchError("lab exec: no command given (lab exec REGION -- COMMAND...)")
    return ["ip", "netns", "exec", state["region_ns"][region_id], *command]
