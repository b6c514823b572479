"""Lint, format and type checks run with the tests, so `pytest` is the one gate.

ruff checks the code and its formatting; mypy --strict checks the package as it
installs (kscan, with rules/ as kscan.rules: a tree of symlinks gives mypy that
layout, which it cannot read from pyproject's package-dir).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINTED = ["kscan", "rules", "tests", "bench"]


def tool(name: str) -> str:
    """The tool installed beside this Python (the test extras), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def check(*command: str, cwd: Path = ROOT) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def test_ruff_check():
    check(tool("ruff"), "check", *LINTED)


def test_mypy_strict(tmp_path):
    package = tmp_path / "kscan"
    package.mkdir()
    for entry in (ROOT / "kscan").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "rules").symlink_to(ROOT / "rules")
    config = str(ROOT / "pyproject.toml")
    cache = str(tmp_path / "mypy-cache")
    check(tool("mypy"), "--config-file", config, "--cache-dir", cache, "kscan", cwd=tmp_path)
