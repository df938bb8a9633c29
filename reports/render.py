"""A report as HTML (one Jinja2 template, charts inline as SVG), PDF (the same HTML printed by
WeasyPrint) or JSON: the same figures in all three."""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from typing import Literal

import jinja2

from cablewatch.reports import words
from cablewatch.reports.figures import Report

__all__ = ["FORMATS", "Format", "environment", "html", "media_type", "pdf", "render", "to_json"]

Format = Literal["pdf", "html", "json"]
FORMATS: tuple[Format, ...] = ("pdf", "html", "json")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("cablewatch.reports", "templates"),
    autoescape=jinja2.select_autoescape(("html", "j2")),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def environment() -> jinja2.Environment:
    """The templates (reports/templates), HTML-escaped, strict about undefined names."""
    return _ENV


def _helpers(timezone: str) -> dict[str, object]:
    tz = zoneinfo.ZoneInfo(timezone)

    def when(t: float | None) -> str:
        if t is None:
            return "–"
        return dt.datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M:%S")

    def pct(v: float | None, places: int) -> str:
        return "–" if v is None else f"{v:.{places}f} %"

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f} ms"

    def num(v: float | None, places: int) -> str:
        return "–" if v is None else f"{v:.{places}f}"

    def dur(s: float | None) -> str:
        if s is None:
            return "–"
        if s < 60:
            return f"{s:.1f} s"
        minutes, sec = divmod(round(s), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"

    def clock(t: float) -> str:
        return dt.datetime.fromtimestamp(t, tz).strftime("%H:%M")

    return {"when": when, "pct": pct, "ms": ms, "num": num, "dur": dur, "clock": clock,
            "what": words.incident, "moved": words.moved}  # fmt: skip


def html(report: Report, station: str) -> str:
    from cablewatch.reports.charts import charts  # matplotlib loads with it: only when drawing

    counted = sum(g.best.good_minutes + g.best.bad_minutes for g in report.regions)
    countable = sum(g.best.good_minutes + g.best.bad_minutes + g.best.nodata_minutes
                    for g in report.regions)  # fmt: skip
    return _ENV.get_template("report.html.j2").render(
        r=report,
        station=station,
        charts=charts(report),
        missed=[report.name(g.region) for g in report.regions if g.met is False],
        completeness=100.0 * counted / countable if countable else None,
        counted_until=min(report.end_s, report.generated_s // 60 * 60),
        **_helpers(report.timezone),
    )


def pdf(page: str) -> bytes:
    import weasyprint  # imported late: Pango loads with it, and only PDFs need it

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return bytes(weasyprint.HTML(string=page).write_pdf())


def to_json(report: Report) -> bytes:
    return json.dumps(report.to_json(), indent=1, sort_keys=True).encode() + b"\n"


def render(report: Report, fmt: Format, station: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    page = html(report, station)
    return page.encode() if fmt == "html" else pdf(page)


def media_type(fmt: Format) -> str:
    return {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
            "json": "application/json"}[fmt]  # fmt: skip
