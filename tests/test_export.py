"""SavedModel export of the CNNs: raw-text signature, fresh-process loading, versions, CLI."""

import argparse
import io
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tl_text.errors import ConfigError, DataError, TlTextError
from tl_text.export import export_model, load_exported, predict, versions
from tl_text.models import denil_cnn, kim_cnn, make_vectorizer
from tl_text.training.keras_fit import accuracy, fit, predict_proba

EDGE_CASES = ["", "Great!", "좋은 영화 😀 <br />Loved it.", "terrible " * 600]

FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf
path, texts = sys.argv[1], json.loads(sys.stdin.read())
serve = tf.saved_model.load(path).signatures["serving_default"]
outputs = serve(text=tf.constant(texts))
raw = {"probabilities": outputs["probabilities"].numpy().tolist(),
       "label": [label.decode() for label in outputs["label"].numpy()],
       "label_id": outputs["label_id"].numpy().tolist()}
from tl_text.export import load_exported
rows = load_exported(path).predict(texts, batch_size=7)
print(json.dumps({"raw": raw, "rows": rows, "imported": sorted(sys.modules)}))
"""


def _random_embeddings(vectorizer, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.1, (vectorizer.vocabulary_size(), dim)).astype(np.float32)


@pytest.fixture(scope="module")
def vectorizer(imdb_small):
    return make_vectorizer(imdb_small["train"].texts, max_tokens=5000, sequence_length=200)


@pytest.fixture(scope="module")
def kim(imdb_small, vectorizer):
    tf_keras.utils.set_random_seed(0)
    model = kim_cnn(vectorizer, _random_embeddings(vectorizer), filters=16)
    fit(model, imdb_small["train"], epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def base(kim, imdb_small, tmp_path_factory):
    """An export base path holding version 1 of the Kim CNN."""
    test = imdb_small["test"]
    score = accuracy(predict_proba(kim, test.texts), test.labels)
    path = tmp_path_factory.mktemp("models") / "imdb-kim"
    export_model(kim, path, label_names=test.label_names,
                 metadata={"training_data": "imdb train", "fraction": 0.016,
                           "metrics": {"test_accuracy": score}})
    return path


def test_export_writes_tf_serving_layout_and_metadata(base):
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert (base / "1" / "saved_model.pb").is_file()
    meta = json.loads((base / "1" / "metadata.json").read_text())
    assert meta["name"] == "imdb-kim" and meta["model"] == "kim_cnn" and meta["version"] == 1
    assert meta["labels"] == ["neg", "pos"]
    assert meta["versions"] == {"tl_text": "0.1.0", "tensorflow": tf.__version__,
                                "tf_keras": tf_keras.__version__,
                                "transformers": importlib.metadata.version("transformers"),
                                "tensorflow-text": importlib.metadata.version("tensorflow-text")}
    assert meta["training_data"] == "imdb train" and meta["fraction"] == 0.016
    assert 0 <= meta["metrics"]["test_accuracy"] <= 1
    # the optimizer's slots are not exported: only the model's own weights
    variables = tf.train.list_variables(str(base / "1" / "variables" / "variables"))
    assert not [name for name, _ in variables if "optimizer" in name]


def test_fresh_process_predicts_like_the_keras_model(kim, base, imdb_small):
    texts = imdb_small["test"].texts[:20] + EDGE_CASES
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(base / "1")],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = predict_proba(kim, texts)
    np.testing.assert_allclose(result["raw"]["probabilities"], expected, atol=1e-5)
    assert result["raw"]["label_id"] == expected.argmax(axis=1).tolist()
    assert result["raw"]["label"] == [("neg", "pos")[i] for i in expected.argmax(axis=1)]
    rows = result["rows"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    assert [r["label"] for r in rows] == result["raw"]["label"]
    assert not [m for m in result["imported"] if m.startswith(("tl_text.models", "tl_text."
                                                               "training"))]


def test_predict_batches_and_checks_its_input(base, imdb_small):
    model = load_exported(base)
    texts = imdb_small["test"].texts[:7]
    one_batch, small_batches = model.predict(texts), model.predict(texts, batch_size=3)
    assert [r["label"] for r in one_batch] == [r["label"] for r in small_batches]
    np.testing.assert_allclose([r["probabilities"] for r in one_batch],
                               [r["probabilities"] for r in small_batches], atol=1e-6)
    assert set(one_batch[0]) == {"label", "label_id", "probabilities"}
    columns = model.predict_columns(texts)
    assert columns["label"] == [r["label"] for r in one_batch]
    assert model.predict([]) == []
    with pytest.raises(TypeError, match="not a single string"):
        model.predict("one review")
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        model.predict(["fine", 3])


def test_versions_count_up_and_the_highest_is_loaded(kim, tmp_path):
    first = export_model(kim, tmp_path / "m", version=5)
    second = export_model(kim, tmp_path / "m", metadata={"note": "retrained"})
    assert (first.name, second.name) == ("5", "6") and versions(tmp_path / "m") == [5, 6]
    latest = load_exported(tmp_path / "m")
    assert latest.version == 6 and latest.metadata["note"] == "retrained"
    assert load_exported(first).version == 5 and "note" not in load_exported(first).metadata
    with pytest.raises(ConfigError, match="already exists; versions are never overwritten"):
        export_model(kim, tmp_path / "m", version=6)


def test_denil_cnn_exports(imdb_small, vectorizer, tmp_path):
    tf_keras.utils.set_random_seed(0)
    model = denil_cnn(vectorizer, _random_embeddings(vectorizer, dim=8), max_sentences=6,
                      words_per_sentence=12, sentence_filters=8, document_filters=8)
    texts = imdb_small["test"].texts[:10] + EDGE_CASES
    exported = load_exported(export_model(model, tmp_path / "denil"))
    assert exported.metadata["model"] == "denil_cnn"
    np.testing.assert_allclose([r["probabilities"] for r in exported.predict(texts)],
                               model(tf.constant(texts), training=False), atol=1e-5)


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_interrupted_export_leaves_nothing(kim, tmp_path, monkeypatch, error):
    def save_then_fail(module, path, signatures):
        (Path(path) / "saved_model.pb").write_bytes(b"partial")
        raise error

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(type(error)):
        export_model(kim, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []
    with pytest.raises(TlTextError, match="no exported model"):
        load_exported(tmp_path / "m")


def test_bad_exports_are_refused_before_saving(kim, tmp_path):
    with pytest.raises(ConfigError, match="outputs 2 class probabilities but 3 label names"):
        export_model(kim, tmp_path / "m", label_names=("neg", "neutral", "pos"))
    with pytest.raises(ConfigError, match="distinct"):
        export_model(kim, tmp_path / "m", label_names=("pos", "pos"))
    with pytest.raises(ConfigError, match=r"\['labels'\] are set by export_model"):
        export_model(kim, tmp_path / "m", metadata={"labels": ["a", "b"]})
    with pytest.raises(ConfigError, match="JSON-serialisable"):
        export_model(kim, tmp_path / "m", metadata={"accuracy": np.arange(2)})
    with pytest.raises(ConfigError, match="positive integer"):
        export_model(kim, tmp_path / "m", version=0)
    assert not (tmp_path / "m").exists()
    with pytest.raises(TlTextError, match="does not exist"):
        load_exported(tmp_path / "missing")


def _predict_cli(*argv):
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    predict.run_from_args(parser.parse_args(argv))


def _json_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_predict_cli_on_texts_file_and_stdin(base, tmp_path, monkeypatch, capsys):
    model = load_exported(base)
    texts = ["An absolute delight, wonderful acting.", "Dull, boring and far too long."]
    expected = model.predict(texts)

    _predict_cli("--model", str(base), *texts)
    lines = _json_lines(capsys)
    assert [line["text"] for line in lines] == texts
    assert [line["label"] for line in lines] == [r["label"] for r in expected]
    for line, row in zip(lines, expected):
        assert list(line["probabilities"]) == ["neg", "pos"]
        np.testing.assert_allclose(list(line["probabilities"].values()), row["probabilities"])

    reviews = tmp_path / "reviews.txt"
    reviews.write_text(f"{texts[0]}\n\n{texts[1]}\n", encoding="utf-8")
    _predict_cli("--model", str(base / "1"), "--file", str(reviews), "--batch-size", "1")
    assert [line["text"] for line in _json_lines(capsys)] == texts

    mixed = ["Great.", " ".join(texts * 40), texts[1], "Awful, awful film " * 30, "Fine."]
    reviews.write_text("\n".join(mixed) + "\n", encoding="utf-8")
    _predict_cli("--model", str(base), "--file", str(reviews), "--batch-size", "2")
    lines = _json_lines(capsys)  # batched by length, written in the file's order
    assert [line["text"] for line in lines] == mixed
    np.testing.assert_allclose([list(line["probabilities"].values()) for line in lines],
                               [model.predict([text])[0]["probabilities"] for text in mixed],
                               atol=1e-6)

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\n".join(texts).encode())))
    _predict_cli("--model", str(base))
    assert [line["label"] for line in _json_lines(capsys)] == [r["label"] for r in expected]


def test_predict_cli_errors_name_the_problem(base, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\nbad \xff byte\n")))
    with pytest.raises(DataError, match=r"<stdin>, line 2: not UTF-8"):
        _predict_cli("--model", str(base))
    with pytest.raises(TlTextError, match="no exported model"):
        _predict_cli("--model", str(tmp_path), "some text")
