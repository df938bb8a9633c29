"""Bearer tokens and their scopes: ``name:token`` takes its name's scope, a bare token is an
operator's, a name [api.scopes] does not list is refused at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from cablewatch.errors import CablewatchError
from cablewatch.gateway.api import OPERATOR
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
