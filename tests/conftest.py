"""Shared fixtures: no test touches the user's ~/.cache."""

from __future__ import annotations

import pytest

from kscan import cache


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """A fresh XDG_CACHE_HOME per test (inherited by subprocesses) and a clean warn-once."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setattr(cache, "_warned", set())
    return home / "kscan"
