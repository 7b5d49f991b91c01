"""Every command's help page: usage in the usual Unix form, no Python type names beside flags."""

from __future__ import annotations

import re

import pytest

from sweeper.cli import app
from tests.sweeper.conftest import cli

COMMANDS = [
    info.name or info.callback.__name__.replace("_", "-") for info in app.registered_commands
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_page(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(monkeypatch, capsys, command, "--help")
    assert code == 0
    usage = next(line.strip() for line in out.splitlines() if "Usage:" in line)
    assert re.fullmatch(rf"Usage: sweeper {command} \[OPTIONS\]( [A-Z_]+(\.\.\.)?)*", usage), usage
    assert "<bool>" not in out and "{" not in out
    assert "--help" in out


def test_every_command_is_covered() -> None:
    assert {"run", "train", "validate", "predict", "report", "promote", "ui"} <= set(COMMANDS)
