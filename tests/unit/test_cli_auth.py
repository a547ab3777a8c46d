"""Engine credentials on the command line: the password never comes from an option."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from spladekit.cli import _common
from spladekit.cli.parity import parity
from spladekit.cli.search import search


def test_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(_common.PASSWORD_ENV, "s3cret")
    assert _common.engine_auth("alice", None) == {"user": "alice", "password": "s3cret"}
    assert _common.engine_auth(None, "key") == {"api_key": "key"}
    assert _common.engine_auth(None, None) == {}


def test_password_is_prompted_for_when_the_environment_has_none(monkeypatch):
    monkeypatch.delenv(_common.PASSWORD_ENV, raising=False)

    @click.command()
    def show() -> None:
        click.echo(sorted(_common.engine_auth("alice", None).items()))

    result = CliRunner().invoke(show, input="typed\n")
    assert result.exit_code == 0, result.output
    assert "[('password', 'typed'), ('user', 'alice')]" in result.output


@pytest.mark.parametrize("command", [search, parity])
def test_no_password_option(command):
    assert "--password" not in {opt for p in command.params for opt in p.opts}
