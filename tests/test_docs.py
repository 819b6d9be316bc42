"""The README documents every setting, command and layer, and its two commands exist."""

from __future__ import annotations

import os

import pytest
from typer.main import get_command

from geoapp.cli import cli
from geoapp.settings import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field):
    assert f"`GEOAPP_{field.upper()}`" in README


def _commands(group, prefix=""):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


@pytest.mark.parametrize("command", sorted(_commands(get_command(cli))))
def test_every_cli_command_is_documented(command):
    assert f"`geoapp {command}" in README


@pytest.mark.parametrize("layer", sorted(p.stem for p in (PROJECT_ROOT / "layers").glob("*.yaml")))
def test_every_layer_is_documented(layer):
    assert f"| `{layer}` |" in README


@pytest.mark.parametrize("script", ["scripts/serve", "scripts/test"])
def test_the_two_readme_commands_exist_and_are_executable(script):
    assert f"{script} " in README
    assert os.access(PROJECT_ROOT / script, os.X_OK)


def test_ci_runs_the_readme_test_command():
    assert "scripts/test" in (PROJECT_ROOT / ".ci" / "run").read_text()
