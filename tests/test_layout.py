"""The package layout: every stage package ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_installed():
    """A stage package missing from pyproject's list works from a checkout and is
    missing from a `pip install .`."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    inits = (ROOT / "kscan").rglob("__init__.py")
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in inits}
    assert set(setuptools["packages"]) == on_disk | {"kscan.rules"}
    assert setuptools["package-dir"] == {"kscan.rules": "rules"}
