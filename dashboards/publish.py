"""Upload the dashboards to a Grafana through grafana-client (grafana-api's maintained fork):
into one folder, each overwriting its older versions (same uid). The API token comes from an
environment variable or a file (credentials.read_secret) and is never printed or logged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cablewatch.errors import CablewatchError

__all__ = ["FOLDER_UID", "Upload", "plan", "publish"]

FOLDER_UID = "cablewatch"


@dataclass(frozen=True, slots=True)
class Upload:
    """What is sent for one dashboard: ``POST /api/dashboards/db`` with this body."""

    uid: str
    title: str
    body: dict[str, Any]


def plan(models: Mapping[str, dict[str, Any]], folder_uid: str = FOLDER_UID) -> list[Upload]:
    message = "cablewatch dashboards publish"
    out = []
    for uid, model in models.items():
        body = {"dashboard": {**model, "id": None}, "folderUid": folder_uid, "overwrite": True,
                "message": message}  # fmt: skip
        out.append(Upload(uid, model["title"], body))
    return out


def publish(url: str, token: str, uploads: list[Upload], folder: str = "cablewatch",
            folder_uid: str = FOLDER_UID) -> list[str]:  # fmt: skip
    """Create the folder if it is missing, then every dashboard; one line per result."""
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException

    api = GrafanaApi.from_url(url, credential=token)
    out = []
    try:
        try:
            api.folder.get_folder(folder_uid)
        except GrafanaClientError as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
            api.folder.create_folder(folder, uid=folder_uid)
            out.append(f"created folder {folder!r} ({folder_uid})")
        for up in uploads:
            reply = api.dashboard.update_dashboard(up.body)
            out.append(f"{up.uid}: {reply.get('status', 'success')} version "
                       f"{reply.get('version', '?')} at {reply.get('url', '?')}")  # fmt: skip
    except GrafanaException as exc:
        raise CablewatchError(f"grafana {url}: {exc}") from exc
    except OSError as exc:
        raise CablewatchError(f"grafana {url}: {exc}") from exc
    return out
