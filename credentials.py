"""Secrets (tokens, passwords, signing keys) from an environment variable or a file; never from
the configuration file itself, never logged. Errors name what needed the secret and the key.
Under systemd, a file given as a bare name is the service's credential of that name
(``LoadCredential=``, deploy/systemd/)."""

from __future__ import annotations

import os
from pathlib import Path

from cablewatch.errors import CablewatchError

__all__ = ["credential_path", "read_secret"]


def read_secret(what: str, env: str, env_key: str, file: str, file_key: str) -> str | None:
    """The value of environment variable ``env`` or the stripped text of ``file`` (whichever is
    named); None if neither is. ``what`` and the keys name the secret in errors."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise CablewatchError(f"{what}: environment variable {env} ({env_key}) is not set")
        return value
    if file:
        path = credential_path(file)
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise CablewatchError(f"{what}: cannot read {file_key} {path}: {exc.strerror}") from exc
    return None


def credential_path(file: str) -> Path:
    """``file``; a bare name (no '/') is a systemd credential, looked up in
    ``$CREDENTIALS_DIRECTORY`` (``LoadCredential=``) when the service manager set it."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if directory and "/" not in file:
        return Path(directory) / file
    return Path(file)
