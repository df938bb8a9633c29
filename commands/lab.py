"""The network lab: namespaces joined by emulated cables (lab/)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cablewatch.commands.common import (
    ConfigOpt,
    JsonOpt,
    TimeoutOpt,
    call,
    fail,
    load,
    out,
    run,
)
from cablewatch.lab import manager as lab
from cablewatch.lab import scenario as lab_scenario
from cablewatch.lab import survey as lab_survey_mod
from cablewatch.probes import jobs as runner
from cablewatch.terminal import render

__all__ = ["lab_app"]

lab_app = typer.Typer(
    help="The network lab: namespaces joined by emulated cables (root).", no_args_is_help=True
)

StateDirOpt = Annotated[
    Path,
    typer.Option("--state-dir", envvar="CABLEWATCH_LAB_DIR", help="Where the lab keeps its state."),
]


PrefixOpt = Annotated[
    str,
    typer.Option("--prefix", envvar="CABLEWATCH_LAB_PREFIX", help="Name prefix of lab namespaces."),
]


RegionOpt = Annotated[str | None, typer.Option("--region", "-r", help="Only this region.")]


LandingOpt = Annotated[
    str | None,
    typer.Option("--landing-point", "-l",
                 help="Only the regions joining the cable here (a segment)."),
]  # fmt: skip


_LAB = lab.LabOptions()


@lab_app.command("up")
def lab_up(
    config: ConfigOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
    prefix: PrefixOpt = _LAB.prefix,
    mgmt_subnet: Annotated[str, typer.Option(help="Host <-> probe namespaces network.")] = (
        _LAB.mgmt_subnet
    ),
    think_ms: Annotated[float, typer.Option(min=0, help="Token API: time to first token.")] = (
        _LAB.think_ms
    ),
    token_ms: Annotated[float, typer.Option(min=0, help="Token API: gap between tokens.")] = (
        _LAB.token_ms
    ),
    seed: Annotated[int | None, typer.Option(help="Seed of the emulator's randomness.")] = None,
) -> None:
    """Build the lab from the topology (idempotent; repairs a broken lab)."""
    cfg = load(config)
    opts = lab.LabOptions(state_dir, prefix, mgmt_subnet, think_ms, token_ms, seed=seed)
    _state, message = call(lab.up, cfg, opts)
    out.print(message, markup=False, highlight=False)


@lab_app.command("down")
def lab_down(state_dir: StateDirOpt = _LAB.state_dir, prefix: PrefixOpt = _LAB.prefix) -> None:
    """Remove every namespace, link and process of the lab (works after crashes too)."""
    removed = call(lab.down, lab.LabOptions(state_dir, prefix))
    out.print(f"lab down: removed {len(removed)} namespaces, links and processes", markup=False)


@lab_app.command("status")
def lab_status(state_dir: StateDirOpt = _LAB.state_dir, as_json: JsonOpt = False) -> None:
    """Links, their state and configured delays, packets forwarded and dropped."""
    status = call(lab.status, lab.LabOptions(state_dir))
    if as_json:
        render.print_json(out, status)
    else:
        out.print(render.lab_status_table(status))


@lab_app.command("cut")
def lab_cut(
    cable: Annotated[str, typer.Argument(help="Cable name, e.g. ADC.")],
    region: RegionOpt = None,
    landing_point: LandingOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Cut a cable: every packet over it is lost (for all regions, one, or a segment)."""
    reply = call(lab.set_links, lab.LabOptions(state_dir), cable, region, {"cut": True},
                  landing_point)  # fmt: skip
    out.print(f"cut {cable}: {reply['matched']} paths", markup=False)


@lab_app.command("degrade")
def lab_degrade(
    cable: Annotated[str, typer.Argument(help="Cable name, e.g. SJC.")],
    region: RegionOpt = None,
    add_delay_ms: Annotated[float | None, typer.Option(min=0, help="Extra one-way delay.")] = None,
    loss_pct: Annotated[
        float | None, typer.Option(min=0, max=100, help="Round-trip loss a ping sees.")
    ] = None,
    jitter_ms: Annotated[float | None, typer.Option(min=0, help="Half-normal sigma.")] = None,
    rate_kbps: Annotated[float | None, typer.Option(min=0, help="Rate limit, 0 = none.")] = None,
    landing_point: LandingOpt = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Add delay, jitter, loss or a rate limit to a cable (for all regions, or one)."""
    params = {
        k: v
        for k, v in (
            ("add_delay_ms", add_delay_ms),
            ("loss_pct", loss_pct),
            ("jitter_ms", jitter_ms),
            ("rate_kbps", rate_kbps),
        )
        if v is not None
    }
    if not params:
        fail(
            "lab degrade: give at least one of --add-delay-ms, --loss-pct, --jitter-ms, --rate-kbps"
        )
    reply = call(lab.set_links, lab.LabOptions(state_dir), cable, region, params, landing_point)
    out.print(f"degraded {cable}: {reply['matched']} paths", markup=False)


@lab_app.command("restore")
def lab_restore(
    cable: Annotated[str | None, typer.Argument(help="Cable name; all cables if left out.")] = None,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Undo cuts and degradations (of one cable, or all)."""
    reply = call(lab.restore, lab.LabOptions(state_dir), cable)
    out.print(f"restored {cable or 'all cables'}: {reply['matched']} paths", markup=False)


@lab_app.command("reroute")
def lab_reroute(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. jakarta.")],
    via: Annotated[
        str | None,
        typer.Option(
            "--via",
            help="The cable its route takes now (with --return and without "
            "--via: every path back over its own cable again).",
        ),
    ] = None,
    way_back: Annotated[
        bool,
        typer.Option(
            "--return",
            help="Move the landing station's route back to the region "
            "(all its paths' replies), not the region's route to the service.",
        ),
    ] = False,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Move a region's route to the service address onto another cable, or with --return the
    station's route back to the region (asymmetric paths); nothing is cut."""
    if way_back:
        back = call(lab.reroute_return, lab.LabOptions(state_dir), region, via)
        ways = "; ".join(f"out over {c}, back over {r}" for c, r in back["returns"].items())
        out.print(f"rerouted the way back to {back['region']}: {ways}", markup=False)
        return
    if via is None:
        fail("lab reroute: --via CABLE is needed (optional only with --return)")
    got = call(lab.reroute, lab.LabOptions(state_dir), region, via)
    out.print(f"rerouted {got['region']}: {got['service_address']} via {got['cable']} "
              f"(next hop {got['next_hop']}, source {got['source']})", markup=False)  # fmt: skip


@lab_app.command(
    "exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def lab_exec(
    ctx: typer.Context,
    region: Annotated[str, typer.Argument(help="Region whose namespace runs the command.")],
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Run a command in a region's namespace: lab exec REGION -- COMMAND..."""
    argv = call(lab.exec_command, lab.LabOptions(state_dir), region, list(ctx.args))
    sys.stdout.flush()
    os.execvp(argv[0], argv)


@lab_app.command("survey")
def lab_survey(
    count: Annotated[int, typer.Option("-c", "--count", min=1, max=10000)] = 10,
    interval: Annotated[float, typer.Option("-i", "--interval", min=0.0)] = 0.05,
    timeout: TimeoutOpt = 1.0,
    state_dir: StateDirOpt = _LAB.state_dir,
    as_json: JsonOpt = False,
) -> None:
    """Ping from every region over every cable at once: median RTT beside the floor."""
    opts = lab.LabOptions(state_dir)
    call(lab.require_root)
    state = call(lab.load_state, opts)
    results = run(
        lambda: lab_survey_mod.survey(state, count=count, interval_s=interval, timeout_s=timeout)
    )
    if as_json:
        render.print_json(out, [r.to_dict() for r in results])
    else:
        title = f"Lab survey: {count} pings per region x cable; median RTT (stretch over floor)"
        out.print(render.survey_table(results, title))
    raise typer.Exit(runner.exit_code(results))


@lab_app.command("targets")
def lab_targets(state_dir: StateDirOpt = _LAB.state_dir, as_json: JsonOpt = False) -> None:
    """Addresses per region x cable: where to aim, from which namespace and source."""
    targets = call(lab.targets, lab.LabOptions(state_dir))
    if as_json:
        render.print_json(out, targets)
    else:
        out.print(render.lab_targets_table(targets))


@lab_app.command("scenario")
def lab_scenario_run(
    file: Annotated[Path, typer.Argument(help="Scenario TOML; see lab/scenarios/.")],
    speed: Annotated[
        float, typer.Option(min=0.01, help="Run the timeline this much faster.")
    ] = 1.0,
    state_dir: StateDirOpt = _LAB.state_dir,
) -> None:
    """Play timed events (cut, degrade, restore) against the running lab."""
    events = call(lab_scenario.load, file)
    call(
        lab_scenario.play,
        lab.LabOptions(state_dir),
        events,
        speed,
        lambda line: out.print(line, markup=False, highlight=False),
    )
