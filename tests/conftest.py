"""Shared fixtures: small, real, stratified slices of the corpora under $TL_TEXT_DATA."""

import os
from pathlib import Path

import pytest

from tl_text.data.paths import DATA_ENV

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = Path(os.environ.get(DATA_ENV) or DEFAULT_SHARED)
    if not (root / "imdb").is_dir():
        pytest.fail(f"test data not found at {root}; set ${DATA_ENV} to the shared data folder")
    return root


@pytest.fixture(scope="session")
def imdb(data_dir):
    """Full IMDB train and test splits (read once per test session, ~5 s)."""
    from tl_text.data.imdb import load_imdb
    return load_imdb(("train", "test"), data_dir=data_dir)


@pytest.fixture(scope="session")
def imdb_small(imdb):
    """400 stratified train and 400 stratified test reviews."""
    return {"train": imdb["train"].fraction(0.016, seed=0),
            "test": imdb["test"].fraction(0.016, seed=0)}
