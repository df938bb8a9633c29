"""What happened and what we did, in a customer's words: the status page and the SLA report
say it the same way (no scopes, scores or ids)."""

from __future__ import annotations

__all__ = ["incident", "moved"]


def incident(scope: str, cable: str, subject: str) -> str:
    """An incident as a customer reads it."""
    if scope == "cable":
        return f"Cable {cable}: a fault"
    if scope in ("partial", "segment", "path"):
        return f"Cable {cable}: degraded for some regions" if cable else "Degraded"
    if scope == "region":
        return "Your region's network: a fault"
    if scope == "station":
        return "The landing station: a fault"
    if scope == "probe":
        return "Our measurements paused (your traffic was not affected by it)"
    return subject


def moved(kind: str, previous: str | None, cable: str, at: str) -> str:
    """Why a region is on ``cable`` since ``at`` (a time as the reader's page writes it)."""
    if kind == "fault" and previous:
        return f"{previous} had a fault at {at}; we moved you to {cable}."
    if kind == "speed" and previous:
        return f"We moved you from {previous} to {cable} at {at}: it has been consistently faster."
    return f"You are on {cable}, the fastest of your cables."
