"""The report's charts, drawn with matplotlib as inline SVG (no files, no network)."""

from __future__ import annotations

import datetime as dt
import io
import threading
import zoneinfo
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from cablewatch.reports.figures import Report

__all__ = ["charts"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22")  # fmt: skip
_RC: Any = {"font.size": 8, "svg.fonttype": "none", "axes.spines.top": False,
       "axes.spines.right": False}  # fmt: skip


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG is inlined in HTML


def burndown(report: Report) -> str:
    tz = zoneinfo.ZoneInfo(report.timezone)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 2.6))
        for i, r in enumerate(report.regions):
            xs: Any = [dt.datetime.fromtimestamp(t, tz) for t, _ in r.burndown]
            ax.step(xs, [v for _, v in r.burndown], where="post", label=report.name(r.region),
                    color=_COLOURS[i % len(_COLOURS)], linewidth=1.2)  # fmt: skip
        ax.axhline(0, color="#b00020", linewidth=0.8, linestyle="--")
        ax.set_ylabel("error budget left (%)")
        ax.set_title("Error budget burn-down (best cable, per region)", loc="left")
        times = [t for r in report.regions for t, _ in r.burndown]
        # over the minutes counted; a single point (nothing counted) over the period
        lo, hi = ((min(times), max(times)) if times and max(times) > min(times)
                  else (report.start_s, report.end_s))  # fmt: skip
        to_num: Any = mdates.date2num
        ax.set_xlim(to_num(dt.datetime.fromtimestamp(lo, tz)),
                    to_num(dt.datetime.fromtimestamp(hi, tz)))  # fmt: skip
        locator: Any = mdates.AutoDateLocator(tz=tz, maxticks=8)  # type: ignore[no-untyped-call]
        if hi - lo <= 8 * 60:
            # a period of a few minutes: a tick a minute (the figures are per minute; the
            # automatic locator would label seconds, "10, 20, ...")
            locator = mdates.MinuteLocator(tz=tz)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        concise = mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(concise)
        ax.grid(axis="y", linewidth=0.3)
        ax.legend(ncol=3, fontsize=7, frameon=False, loc="lower left")
        return _svg(fig)


def daily(report: Report) -> str:
    n = len(report.regions)
    target = report.policy["availability_pct"]
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(n, 1, figsize=(7.0, 0.75 * n + 0.6), sharex=True, squeeze=False)
        for ax, r in zip(axes[:, 0], report.regions, strict=True):
            days = [d for d, _ in r.daily]
            measured = [v for _, v in r.daily if v is not None]
            low = min([*measured, target]) - 0.5
            values = [v if v is not None else 100.0 for _, v in r.daily]  # grey, full height
            colours = ["#dddddd" if v is None else "#2e7d32" if v >= target else "#c62828"
                       for _, v in r.daily]  # fmt: skip
            ax.bar(range(len(days)), [v - low for v in values], bottom=low, color=colours,
                   width=0.8)  # fmt: skip
            ax.axhline(target, color="#333333", linewidth=0.6, linestyle=":")
            ax.set_ylim(low, 100.0)
            ax.set_ylabel(report.name(r.region), rotation=0, ha="right", va="center",
                          fontsize=7)  # fmt: skip
            ax.tick_params(axis="y", labelsize=6)
            ax.set_xticks(range(len(days)))
            ax.set_xticklabels([d[-2:] for d in days], fontsize=6)
        axes[0, 0].set_title(f"Daily availability (%, best cable; dotted: the {target:g} % "
                             "objective; grey: no data)", loc="left")  # fmt: skip
        return _svg(fig)


def rtt(report: Report) -> str:
    regions = report.regions
    cables = report.policy["cables"]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 0.42 * len(regions) * len(cables) / 2 + 1.0))
        y = 0.0
        ticks, labels = [], []
        for r in regions:
            for j, c in enumerate(r.cables):
                if c.rtt_p50_ms is not None and c.rtt_p95_ms is not None:
                    ax.plot([c.rtt_p50_ms, c.rtt_p95_ms], [y, y], color=_COLOURS[j], linewidth=1)
                    ax.plot(c.rtt_p50_ms, y, "o", color=_COLOURS[j], markersize=3.5)
                    ax.plot(c.rtt_p95_ms, y, "|", color=_COLOURS[j], markersize=7)
                ticks.append(y)
                labels.append(f"{report.name(r.region)} / {c.cable}")
                y += 1
            y += 0.6
        ax.axvline(report.policy["rtt_p95_ms"], color="#b00020", linewidth=0.8, linestyle="--")
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels, fontsize=6.5)
        ax.invert_yaxis()
        ax.set_xlabel("RTT (ms): dot p50, bar p95; dashed: the p95 objective")
        ax.set_title("RTT per region and cable", loc="left")
        ax.grid(axis="x", linewidth=0.3)
        return _svg(fig)


_PYPLOT = threading.Lock()
"""pyplot keeps global state: one report's charts at a time (reports render in threads)."""


def charts(report: Report) -> dict[str, str]:
    """Every chart of the report, by name, as SVG text."""
    with _PYPLOT:
        return {"burndown": burndown(report), "daily": daily(report), "rtt": rtt(report)}
