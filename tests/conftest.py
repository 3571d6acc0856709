"""Shared fixtures: the data root (tests that use it are marked `data`), small real slices
of the corpora, a tiny ELECTRA."""

import os
from pathlib import Path

import pytest

from tl_text.data.paths import DATA_ENV

DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA_ROOT = Path(os.environ.get(DATA_ENV) or DEFAULT_SHARED)
HAVE_DATA = (DATA_ROOT / "imdb").is_dir()


def pytest_configure(config):
    config.addinivalue_line("markers", "data: needs the real corpora (../shared/data or "
                                       "$TL_TEXT_DATA); skipped, saying why, when absent")


def pytest_collection_modifyitems(config, items):
    """Tests that use the data root are `data` tests; without one they are skipped."""
    skip = pytest.mark.skip(reason=f"no data root at {DATA_ROOT}: set ${DATA_ENV} to the "
                                   f"shared data folder to run the tests on real corpora")
    for item in items:
        if "data_dir" in item.fixturenames:
            item.add_marker(pytest.mark.data)
        if item.get_closest_marker("data") and not HAVE_DATA:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not HAVE_DATA:
        pytest.skip(f"no data root at {DATA_ROOT}")
    return DATA_ROOT


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


@pytest.fixture(scope="session")
def make_tiny_electra():
    """Builder: a randomly initialised 2-layer ELECTRA classifier (hidden size 32) over a
    WordPiece `vocab_file`, saved in the Hugging Face layout in `folder`."""
    def build(folder: Path, vocab_file: Path, strip_accents=None, max_positions=512) -> Path:
        import tensorflow as tf
        from transformers import (ElectraConfig, ElectraTokenizerFast,
                                  TFElectraForSequenceClassification)

        tokenizer = ElectraTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True,
                                         strip_accents=strip_accents)
        config = ElectraConfig(vocab_size=tokenizer.vocab_size, embedding_size=16,
                               hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=max_positions,
                               num_labels=2)
        tf.random.set_seed(0)
        model = TFElectraForSequenceClassification(config)
        model(model.dummy_inputs)
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        return folder
    return build


@pytest.fixture(scope="session")
def tiny_electra(tmp_path_factory, make_tiny_electra) -> Path:
    """The tiny ELECTRA with the packaged MiniLM uncased WordPiece vocabulary."""
    from tl_text.models.transformer import resolve_pretrained

    return make_tiny_electra(tmp_path_factory.mktemp("tiny-electra"),
                             Path(resolve_pretrained("minilm")) / "vocab.txt")
