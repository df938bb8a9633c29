"""Bearer tokens and their scopes: ``name:token`` takes its name's scope, a bare token is an
operator's, a name [api.scopes] does not list is refused at start; signed status links."""

from __future__ import annotations

from pathlib import Path

import pytest

from cablewatch.errors import CablewatchError
from cablewatch.gateway.api import OPERATOR, StatusLinks
from cablewatch.gateway.server import read_tokens
from cablewatch.gateway.settings import ApiSettings


def test_named_tokens_take_their_scope(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text("# NOC\nnoc-token\nacme-portal:acme-token\n\nops:ops-token\n")
    api = ApiSettings(tokens_file=str(f), scopes=(("acme-portal", "acme"), ("ops", OPERATOR)))
    assert read_tokens(api) == {"noc-token": OPERATOR, "acme-token": "acme",
                                "ops-token": OPERATOR}  # fmt: skip


def test_a_name_without_a_scope_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_TOKENS", "noc-token, stranger:t2")
    api = ApiSettings(tokens_env="CW_TOKENS", scopes=(("acme-portal", "acme"),))
    with pytest.raises(CablewatchError, match="token 2 in CW_TOKENS is named 'stranger', which "
                       r"\[api.scopes\] does not list"):  # fmt: skip
        read_tokens(api)


def test_a_bare_name_is_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-tokens").write_text("acme-portal:from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    api = ApiSettings(tokens_file="api-tokens", scopes=(("acme-portal", "acme"),))
    assert read_tokens(api) == {"from-systemd": "acme"}
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(CablewatchError, match=r"cannot read api\.tokens_file api-tokens"):
        read_tokens(api)  # outside systemd, a bare name is a relative path


def test_a_status_link_names_one_customer_and_ends_at_its_expiry() -> None:
    links = StatusLinks(b"k" * 32, max_ttl_s=3600)
    query, expires = links.mint("acme", 600, now_s=1_000_000.0)
    assert expires == 1_000_600
    fields = dict(item.split("=") for item in query.split("&"))
    assert fields["expires"] == "1000600"
    sig = fields["sig"]
    assert links.valid("acme", expires, sig, now_s=1_000_599.0)
    assert not links.valid("acme", expires, sig, now_s=1_000_600.0)  # expired
    assert not links.valid("sea-retail", expires, sig, now_s=1_000_100.0)  # another page
    assert not links.valid("acme", expires + 1, sig, now_s=1_000_100.0)  # a stretched expiry
    assert not links.valid("acme", expires, sig.upper(), now_s=1_000_100.0)
    assert not links.valid("acme", None, sig)
    assert not links.valid("acme", expires, None)
    assert links.mint("acme", 90 * 86400, now_s=0.0)[1] == 3600  # at most the maximum
    # a far expiry signed with the right key is still refused: never beyond the maximum
    far = StatusLinks(b"k" * 32, max_ttl_s=10**9).mint("acme", 10**8, now_s=0.0)
    assert not links.valid("acme", far[1], far[0].split("sig=")[1], now_s=0.0)
    links.replace(b"n" * 32, 3600)  # a new key voids the old links
    assert not links.valid("acme", expires, sig, now_s=1_000_100.0)
    with pytest.raises(CablewatchError, match="status links are off"):
        StatusLinks(None).mint("acme", 60)
    assert not StatusLinks(None).valid("acme", expires, sig, now_s=1_000_100.0)
