"""Shared fixtures: every test gets its own, empty data cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """``$MTLSTUDY_DATA_DIR`` in the test's temporary directory: no test reads or fills the real cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MTLSTUDY_DATA_DIR", str(folder))
    return folder
