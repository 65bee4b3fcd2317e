"""Data-quality warnings reach every command and the page, not only `validate` (hardening
issue, item 12): the rows a source loses are said wherever its figures are shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard import loader, store
from dashboard.cli import app
from dashboard.model import CollectionsModel
from dashboard.sources import DEFAULT_SOURCE
from dashboard.ui.app import Dashboard, quality_text

runner = CliRunner()


@pytest.fixture
def flawed(tmp_path, monkeypatch) -> Path:
    """The demo set with two payments of a customer nobody knows."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "flawed"
    shutil.copytree(DEFAULT_SOURCE, folder, ignore=shutil.ignore_patterns(".*", "*.sqlite"))
    payments = folder / "payments.csv"
    with payments.open("a", encoding="utf-8") as handle:
        handle.write("C999999,2024-01-05,10.00,Card\nC999999,2024-02-05,10.00,Card\n")
    loader.clear_cache()
    yield folder
    loader.clear_cache()


def warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning: ")]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["summary"], []),
        (["summary"], ["--json"]),
        (["build"], ["--no-progress"]),
        (["export", "figures"], ["--out", "{tmp}/figures"]),
    ],
)
def test_every_command_repeats_the_warnings_on_stderr(flawed, tmp_path, command, options):
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    result = runner.invoke(app, [*command, "--source", str(flawed), *options])
    assert result.exit_code == 0, result.output
    lines = warning_lines(result.stderr)
    assert any("2 payments rows excluded" in line for line in lines), result.stderr
    assert any("C999999" in line for line in lines), result.stderr
    assert not warning_lines(result.stdout)


def test_a_stored_cube_keeps_its_warnings(flawed):
    entry, built = loader.build_and_store(flawed, progress=False)
    assert built
    cube = store.read_cube(entry)
    assert cube.excluded == {"payments": 2}
    assert any("C999999" in line for line in cube.warnings)


def test_the_page_shows_a_data_quality_note(flawed):
    board = Dashboard(model=CollectionsModel(source=str(flawed)))
    note = board.quality_note()
    assert note.visible
    text = quality_text(board.model.cube)
    assert "2 payments rows excluded" in text and "C999999" in text


def test_clean_data_shows_no_note_and_prints_no_warning():
    assert quality_text(loader.load_cube(DEFAULT_SOURCE)) == ""
    result = runner.invoke(app, ["summary", "--source", str(DEFAULT_SOURCE)])
    assert result.exit_code == 0 and result.stderr == ""
