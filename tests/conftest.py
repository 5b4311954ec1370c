"""Shared fixtures: every test gets its own, empty data cache; trainer tests share a small split."""

from __future__ import annotations

import pytest

from mtlstudy.data import make_synthetic, random_train_test_split


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """``$MTLSTUDY_DATA_DIR`` in the test's temporary directory: no test reads or fills the real cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MTLSTUDY_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def split():
    """A small synthetic train/test split (the trainer's and the packed trainer's tests)."""
    return random_train_test_split(make_synthetic(num_users=80, num_items=120, seed=3), 0.1, 123)
