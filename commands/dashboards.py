"""Grafana dashboards as code: build, preview, publish."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cablewatch.commands.common import ConfigOpt, call, fail, load, out

__all__ = ["dashboards_app"]

dashboards_app = typer.Typer(help="Grafana dashboards as code.", no_args_is_help=True)


@dashboards_app.command("build")
def dashboards_build(
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Directory for the JSON.")] = Path(
        "deploy/grafana/dashboards"
    ),
) -> None:
    """Write every dashboard's JSON (NOC overview, path, cable, SLA, agents)."""
    from cablewatch.dashboards.build import write

    cfg = load(config)
    try:
        written = write(cfg, output)
    except OSError as exc:
        fail(f"{output}: {exc.strerror}")
    for path in written:
        out.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


@dashboards_app.command("preview")
def dashboards_preview(
    prometheus: Annotated[str, typer.Option("--prometheus", help="Prometheus' base URL.")],
    config: ConfigOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="Directory for the PNGs.")] = Path(
        "out/previews"
    ),
    minutes: Annotated[float, typer.Option(min=1, help="Time range: the last N minutes.")] = 15,
    values: Annotated[
        list[str] | None, typer.Option("--set", help="A variable, NAME=VALUE (repeatable).")
    ] = None,
) -> None:
    """Draw every dashboard to PNG (matplotlib) from its queries on the live data sources."""
    from cablewatch.dashboards.preview import draw_all

    cfg = load(config)
    for drawn in call(draw_all, cfg, prometheus, output, minutes * 60, values or []):
        empty = f" (no data: {'; '.join(drawn.empty)})" if drawn.empty else ""
        out.print(f"wrote {drawn.path}{empty}", markup=False, highlight=False, soft_wrap=True)


@dashboards_app.command("publish")
def dashboards_publish(
    url: Annotated[str, typer.Option("--url", help="Grafana's base URL.")],
    config: ConfigOpt = None,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the API token.")
    ] = "GRAFANA_TOKEN",
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the API token (instead of --token-env).")
    ] = None,
    folder: Annotated[str, typer.Option(help="Grafana folder to upload into.")] = "cablewatch",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send nothing.")
    ] = False,
) -> None:
    """Upload every dashboard into a Grafana folder, overwriting older versions."""
    from cablewatch.credentials import read_secret
    from cablewatch.dashboards import publish as pub
    from cablewatch.dashboards.build import build_all

    uploads = pub.plan(build_all(load(config)))
    if dry_run:
        out.print(f"would create folder {folder!r} ({pub.FOLDER_UID}) if missing on {url}",
                  markup=False, highlight=False)  # fmt: skip
        for up in uploads:
            out.print(f"would POST /api/dashboards/db {up.uid} ({up.title!r}, "
                      f"{len(up.body['dashboard']['panels'])} panels, overwrite)",
                      markup=False, highlight=False)  # fmt: skip
        return
    token = call(read_secret, "grafana", "" if token_file else token_env, "--token-env",
                  str(token_file or ""), "--token-file")  # fmt: skip
    if not token:
        fail("grafana: no API token (--token-env or --token-file)")
    for line in call(pub.publish, url, token, uploads, folder):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
