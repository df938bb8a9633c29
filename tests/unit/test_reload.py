"""What a process takes of a reloaded configuration (config/reload.take, pure)."""

from __future__ import annotations

import dataclasses

from cablewatch.config import load_default
from cablewatch.config.reload import take
from cablewatch.gateway.settings import ApiSettings


def test_each_role_takes_its_sections_and_names_the_rest() -> None:
    running = dataclasses.replace(load_default(), api=ApiSettings(tokens_file="a"))
    assert running.api is not None
    new = dataclasses.replace(
        running,
        slas=running.slas[:1],
        probe=dataclasses.replace(
            running.probe, common=dataclasses.replace(running.probe.common, interval_s=5.0)
        ),
        api=dataclasses.replace(running.api, tokens_file="b", listen_port=1234),
    )
    agent = take(running, new, "agent")
    assert agent.taken == ("probe",)
    assert agent.at_restart == ("slas", "api")
    assert agent.config.probe.interval_s == 5.0
    assert agent.config.slas == running.slas

    serve = take(running, new, "evaluator")
    assert serve.taken == ("slas", "api (tokens, scopes)")
    assert serve.at_restart == ("probe", "api (address, TLS)")
    assert serve.config.slas == running.slas[:1]
    assert serve.config.api == dataclasses.replace(running.api, tokens_file="b")  # port kept
    assert serve.config.probe == running.probe


def test_an_unchanged_file_changes_nothing() -> None:
    running = load_default()
    same = take(running, running, "evaluator")
    assert (same.config, same.taken, same.at_restart) == (running, (), ())
