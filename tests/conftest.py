"""Shared fixtures: no test touches the user's ~/.cache; schema validators."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from kscan.facts import cache


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """A fresh XDG_CACHE_HOME per test (inherited by subprocesses) and a clean warn-once."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr(cache, "_warned", set())
    return home / "kscan"


@pytest.fixture(scope="session")
def report_validator():
    """Validator for kscan's own JSON report schema."""
    source = resources.files("kscan.report").joinpath("kscan-report.schema.json").read_text()
    schema = json.loads(source)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
