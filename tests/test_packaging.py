"""Packaging: environment.yml lists the same runtime packages as pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> str:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return f"{name.lower().replace('_', '-')}{spec.replace(' ', '')}"


def test_environment_yml_matches_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {normalise(r) for r in pyproject["project"]["dependencies"]}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("dependencies:", 1)[1]
    conda = set()
    for line in dependencies.splitlines():
        item = line.strip()
        if item.startswith("- ") and not item.startswith(("- pip", "- -e", "- python")):
            conda.add(normalise(item[2:]))
    assert conda == runtime


def test_console_script_is_declared():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["collections-dashboard"] == "dashboard.cli:main"
