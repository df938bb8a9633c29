"""Settings of the gateway API (``[api]``) and its webhooks (``[[webhooks]]``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiSettings", "WebhookSettings"]


@dataclass(frozen=True, slots=True)
class ApiSettings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9518
    tokens_env: str = ""
    """An environment variable holding the bearer tokens, comma-separated ..."""
    tokens_file: str = ""
    """... or a file with one token per line (# comments allowed)."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret_env: str = ""
    """The HMAC-SHA256 signing secret, from this environment variable or file."""
    secret_file: str = ""
    max_attempts: int = 6
    """Attempts per delivery, backing off 1, 2, 4, 8, 16 s between them."""
