"""The process's memory settings made when the package is imported
(:mod:`dashboard._allocator`): NumPy's huge-page advice off unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ADVICE_AFTER_IMPORT = (
    "import dashboard\n"
    "from numpy._core.multiarray import _set_madvise_hugepage\n"
    "print(_set_madvise_hugepage(True))\n"  # returns the setting it replaces
)


def advice_after_import(environment: dict[str, str]) -> str:
    """NumPy's huge-page advice in a fresh process once the package is imported."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"} | environment
    done = subprocess.run(
        [sys.executable, "-c", ADVICE_AFTER_IMPORT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def numpy_with_the_switch():
    pytest.importorskip("numpy._core.multiarray", reason="NumPy 2 names the switch so")


def test_importing_the_package_turns_numpys_huge_page_advice_off():
    assert advice_after_import({}) == "False"


@pytest.mark.parametrize("chosen", ["1", "0"])
def test_a_users_own_numpy_setting_is_kept(chosen):
    assert advice_after_import({"NUMPY_MADVISE_HUGEPAGE": chosen}) == str(chosen == "1")
