"""evaluate, serve, sla status, report, rules generate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cablewatch.alerting import rules as rules_mod
from cablewatch.commands.common import (
    ConfigOpt,
    JsonOpt,
    call,
    check,
    check_listen,
    err,
    evaluator_config,
    fail,
    load,
    out,
    run,
    start_logging,
)
from cablewatch.evaluator import process as evaluator_mod
from cablewatch.reports import period as report_period
from cablewatch.reports import produce as report_produce
from cablewatch.reports import render as report_render
from cablewatch.terminal import render

__all__ = ["register", "rules_app", "sla_app"]

InstanceOpt = Annotated[
    str,
    typer.Option(
        help="With [bus]: this instance's name (its durable consumer, its name on "
        "the station's lease); default the host name. Two on one host need two."
    ),
]


def check_instance(name: str) -> None:
    """A name NATS takes in a consumer's name: letters, digits, '-' and '_'."""
    if name and not all(c.isalnum() or c in "-_" for c in name):
        fail(f"--instance {name!r}: letters, digits, '-' and '_' only")


sla_app = typer.Typer(help="SLA policies and their status.", no_args_is_help=True)


rules_app = typer.Typer(help="Prometheus rules from the SLA policies.", no_args_is_help=True)


def evaluate(
    config: ConfigOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="Metrics HOST:PORT (default: [evaluator] listen_*).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    instance: InstanceOpt = "",
) -> None:
    """Detect and classify faults, evaluate SLAs, raise and resolve alerts, continuously."""
    cfg = evaluator_config(config)
    where = check_listen(listen, (cfg.evaluator.listen_host, cfg.evaluator.listen_port))
    check_instance(instance)
    start_logging(log_level)
    run(lambda: evaluator_mod.serve(cfg, where, instance))


def serve(
    config: ConfigOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="Metrics HOST:PORT (default: [evaluator] listen_*).")
    ] = None,
    delivery_log: Annotated[
        Path | None, typer.Option(help="Append every webhook delivery attempt here (JSON lines).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    print_openapi: Annotated[
        bool, typer.Option("--print-openapi", help="Print the API's OpenAPI schema and exit.")
    ] = False,
    instance: InstanceOpt = "",
) -> None:
    """The evaluator plus the gateway API ([api]) and signed webhooks ([[webhooks]])."""
    from cablewatch.gateway import server as gateway_server

    if print_openapi:
        from cablewatch.gateway.api import openapi_document

        render.print_json(out, openapi_document())
        return
    cfg = evaluator_config(config)
    api = call(gateway_server.api_settings, cfg)
    check(gateway_server.read_tokens, api)
    check(gateway_server.tls_arguments, api)
    where = check_listen(listen, (cfg.evaluator.listen_host, cfg.evaluator.listen_port))
    check_instance(instance)
    start_logging(log_level)
    run(lambda: gateway_server.serve(cfg, where, delivery_log=delivery_log, instance=instance))


@sla_app.command("status")
def sla_status(
    config: ConfigOpt = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    paths: Annotated[bool, typer.Option("--paths", help="Also one row per cable.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every customer's SLA now: availability, error budget, burn rates, objectives."""
    cfg = load(config)
    if not cfg.slas:
        fail(f"{cfg.source}: no [[sla]] policies")
    if customer is not None:
        check(cfg.sla, customer)
    check(cfg.influx, "sla status reads from it")
    statuses = run(lambda: evaluator_mod.sla_status(cfg))
    wanted = cfg.sla(customer).customer if customer else None
    shown = [s for s in statuses if (wanted is None or s.customer == wanted)
             and (paths or s.cable == "any")]  # fmt: skip
    if as_json:
        render.print_json(out, render.sla_rows(shown))
    else:
        out.print(render.sla_table(shown, cfg))


def report(
    customer: Annotated[str, typer.Option(help="The customer (an [[sla]] policy).")],
    config: ConfigOpt = None,
    period: Annotated[str | None, typer.Option(help="A month, e.g. 2026-11.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), excluded.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf, html or json.")] = "pdf",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="File (default: stdout for html and json).")
    ] = None,
) -> None:
    """A customer's SLA report for a month or a span, from the system of record."""
    cfg = load(config)
    if fmt not in report_render.FORMATS:
        fail(f"--format {fmt!r}: expected one of {', '.join(report_render.FORMATS)}")
    policy = call(cfg.sla, customer)
    span = call(report_period.parse, period, start, end, cfg.report.timezone)
    check(cfg.influx, "reports read from it")
    if out_file is None and fmt == "pdf":
        fail("--format pdf needs --out FILE")
    made, body = run(lambda: report_produce.produce(cfg, policy.customer, span, fmt))
    if out_file is None:
        sys.stdout.buffer.write(body)
        return
    out_file.write_bytes(body)
    err.print(f"{out_file}: {made.headline()}", markup=False, highlight=False)


@rules_app.command("generate")
def rules_generate(
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="The rules file to write.")] = Path(
        "deploy/prometheus/sla.yml"
    ),
) -> None:
    """Write Prometheus recording and alerting rules for the [[sla]] policies."""
    cfg = load(config)
    if not cfg.slas:
        fail(f"{cfg.source}: no [[sla]] policies to generate rules from")
    source = config.name if config is not None else "the default topology (shantou.toml)"
    try:
        count = rules_mod.write(cfg.slas, source, output)
    except OSError as exc:
        fail(f"{output}: {exc.strerror}")
    out.print(f"wrote {count} rules for {len(cfg.slas)} SLA policies to {output}",
              markup=False, highlight=False, soft_wrap=True)  # fmt: skip


def status_link(
    customer: Annotated[str, typer.Argument(help="The customer (an [[sla]] policy).")],
    config: ConfigOpt = None,
    ttl: Annotated[int, typer.Option("--ttl-s", min=60, help="Valid this long (seconds).")] = 3600,
    base: Annotated[
        str, typer.Option(help="The API's base URL as customers reach it (default: [api]).")
    ] = "",
) -> None:
    """A signed link to a customer's status page, valid --ttl-s (no token in it)."""
    from cablewatch.gateway import server as gateway_server

    cfg = load(config)
    api = call(gateway_server.api_settings, cfg)
    policy = call(cfg.sla, customer)
    links = call(gateway_server.status_links, api)
    query, _expires = call(links.mint, policy.customer, ttl)
    root = base.rstrip("/") or f"http://{api.listen_host}:{api.listen_port}"
    out.print(f"{root}/v1/customers/{policy.customer}/status?{query}", markup=False,
              highlight=False, soft_wrap=True)  # fmt: skip


def explain(
    region: Annotated[str, typer.Argument(help="Region id or name, e.g. manila.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A region's last recommendation and the window each cable was judged on, beside the same
    rounds as InfluxDB holds them now."""
    cfg = load(config)
    reg = call(cfg.topology.region, region)
    call(cfg.influx, "explain reads from it")
    found = run(lambda: evaluator_mod.explain(cfg, reg.id))
    if found is None:
        fail(f"{reg.id}: no recommendation stored yet")
    payload = found.to_dict()
    if as_json:
        render.print_json(out, payload)
    else:
        out.print(render.explain_table(payload))


def register(app: typer.Typer) -> None:
    app.command()(explain)
    app.command("status-link")(status_link)
    app.command()(evaluate)
    app.command()(serve)
    app.command("report")(report)
