"""Who may read what from the gateway API: bearer tokens with their scopes, and signed,
short-lived links to a customer's status page.

- Every /v1 route needs ``Authorization: Bearer <token>``. The token is compared in constant
  time with each configured one (401 otherwise, with ``WWW-Authenticate: Bearer``).
- Scopes: an operator's token reads everything; a customer's token reads only
  ``/v1/customers/<its customer>/...`` (403 for anything else, whether or not the customer
  exists).
- The status page, which people open in a browser, also takes a signed link:
  ``?expires=<unix seconds>&sig=<hex>``, HMAC-SHA256 over the customer and the expiry with a
  key from a secret file (``[api] status_link_key_file``). A bearer token never goes into a URL
  (proxies and browsers keep URLs in their logs and history); a link names one customer, ends
  at its expiry, and a new key voids every link made with the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Collection, Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cablewatch.errors import CablewatchError

__all__ = ["CUSTOMER_ID", "OPERATOR", "Auth", "StatusLinks", "Tokens"]

OPERATOR = "operator"
"""The scope of a token that reads everything; any other scope is one customer's name."""
CUSTOMER_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class Tokens:
    """The bearer tokens the API takes, each with its scope (OPERATOR or a customer);
    ``replace`` swaps them at once (a reload), for requests that arrive after it."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.entries: list[tuple[bytes, str]] = []
        self.replace(tokens)

    def replace(self, tokens: Mapping[str, str]) -> None:
        if not tokens or any(not t for t in tokens):
            raise ValueError("the API needs at least one non-empty bearer token")
        self.entries = [(t.encode(), scope) for t, scope in tokens.items()]

    def scope(self, given: bytes) -> str:
        """The scope of ``given``; 401 when it is no token of ours."""
        found = ""
        for token, scope in self.entries:  # every comparison runs: no early exit to time
            if hmac.compare_digest(given, token):
                found = scope
        if not given or not found:
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return found


class StatusLinks:
    """Signs and checks links to a customer's status page; ``replace`` swaps the key (a
    reload). Without a key, no link is valid and none can be made."""

    def __init__(self, key: bytes | None, max_ttl_s: int = 86400) -> None:
        self.key = key or None
        self.max_ttl_s = max_ttl_s

    def replace(self, key: bytes | None, max_ttl_s: int) -> None:
        self.key, self.max_ttl_s = key or None, max_ttl_s

    def _sign(self, customer: str, expires: int) -> str:
        assert self.key is not None
        return hmac.new(self.key, f"{customer}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def mint(self, customer: str, ttl_s: int, now_s: float | None = None) -> tuple[str, int]:
        """The query string of a link to ``customer``'s page valid for ``ttl_s`` (at most the
        configured maximum), and its expiry (Unix seconds)."""
        if self.key is None:
            raise CablewatchError("no status_link_key_file in [api]: status links are off")
        now = time.time() if now_s is None else now_s
        expires = int(now) + min(ttl_s, self.max_ttl_s)
        return urlencode({"expires": expires, "sig": self._sign(customer, expires)}), expires

    def valid(self, customer: str, expires: int | None, sig: str | None,
              now_s: float | None = None) -> bool:  # fmt: skip
        if self.key is None or expires is None or not sig:
            return False
        now = time.time() if now_s is None else now_s
        fresh = now < expires <= now + self.max_ttl_s
        return hmac.compare_digest(sig.encode(), self._sign(customer, expires).encode()) and fresh


class Auth:
    """The API's dependencies: ``operator`` (an operator's token), ``customer`` (a token that
    reads the path's customer) and ``page`` (that, or a signed link)."""

    def __init__(self, tokens: Tokens, links: StatusLinks,
                 customers: Callable[[], Collection[str]]) -> None:  # fmt: skip
        """``customers()``: the customers the API knows, as of the request."""
        self.tokens = tokens
        self.links = links
        self.customers = customers
        bearer = HTTPBearer(auto_error=False)

        def presented(creds: HTTPAuthorizationCredentials | None) -> bytes:
            if creds is None or creds.scheme.lower() != "bearer":
                return b""
            return creds.credentials.encode()

        # defaults, not Annotated: the annotations are strings here and `bearer` is a local
        def scope(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:  # noqa: B008
            return tokens.scope(presented(creds))

        def operator(scope: str = Depends(scope)) -> None:
            if scope != OPERATOR:
                raise HTTPException(403, "this token reads only its customer's routes "
                                    "(/v1/customers/...)")  # fmt: skip

        def customer(
            customer: Annotated[str, Path(pattern=CUSTOMER_ID)], scope: str = Depends(scope)
        ) -> str:
            return self._known(customer, scope)

        def page(
            customer: Annotated[str, Path(pattern=CUSTOMER_ID)],
            expires: Annotated[int | None, Query(description="A signed link's expiry")] = None,
            sig: Annotated[str | None, Query(description="A signed link's signature")] = None,
            creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        ) -> str:
            """The Authorization header's token, else a signed link for this customer."""
            if presented(creds) or not links.valid(customer, expires, sig):
                return self._known(customer, tokens.scope(presented(creds)))
            return self._known(customer, customer)

        self.operator = operator
        self.customer = customer
        self.page = page

    def _known(self, customer: str, scope: str) -> str:
        if scope not in (OPERATOR, customer):
            raise HTTPException(403, "this token does not read this customer")
        if customer not in self.customers():
            raise HTTPException(404, f"unknown customer {customer!r}")
        return customer
