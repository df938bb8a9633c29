"""Settings of alerting (``[alerting]``)."""

from __future__ import annotations

from dataclasses import dataclass

from cablewatch.schema import Num, Str, Table, valid_url

__all__ = ["AlertingSettings"]


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    alertmanager_urls: tuple[str, ...] = ()
    """Every Alertmanager replica's base URL (``alertmanager_url`` for one,
    ``alertmanager_urls`` for a gossip cluster: each alert goes to every replica, as Prometheus
    does); none: no alerts are posted (events are still stored)."""
    resend_s: float = 60.0
    """Firing alerts are re-sent this often, with endsAt 4 x resend_s ahead (as Prometheus
    does), so Alertmanager resolves them by itself if the evaluator dies."""

    @classmethod
    def from_table(cls, t: Table | None) -> AlertingSettings:
        if t is None:
            return cls()
        v = t.read(alertmanager_url=Str(), resend_s=Num(1))
        many = t.string_list("alertmanager_urls", required=False)
        t.finish()
        one = v.pop("alertmanager_url", "")
        if one and many:
            t.problem("alertmanager_urls", "give alertmanager_url (one) or alertmanager_urls "
                      "(every replica of a cluster), not both")  # fmt: skip
        urls = [one] if one else list(many or [])
        key = "alertmanager_url" if one else "alertmanager_urls"
        for url in urls:
            if not valid_url(url):
                t.problem(key, f"got {url!r}, expected an http:// or https:// URL")
        return cls(alertmanager_urls=tuple(u.rstrip("/") for u in urls), **v)
