"""SavedModel and TFLite exports of transformer classifiers: in-graph WordPiece ids equal the
Hugging Face tokenizer's, and a fresh process predicts like the in-memory classifier."""

import argparse
import json
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tl_text.cli import main
from tl_text.errors import ConfigError, TlTextError
from tl_text.export import export_model, load_exported, predict
from tl_text.export.serve import make_server
from tl_text.export.tflite import _control_characters, export_tflite, load_tflite, tflite_folder
from tl_text.export.wordpiece import FastWordPieceTokenizer, WordPieceTokenizer, hf_settings
from tl_text.models.transformer import TransformerClassifier, resolve_pretrained

EDGE_CASES = ["", "   ", "Great!", "terrible " * 3000, "x" * 101, "naïve CAFÉ Ærø ΣΟΦΟΣ İstanbul",
              "좋은 영화 😀 ㅋㅋㅋㅋ 你好 日本語", "don't—ever… «quoted» ¿qué? €5 ＡＢＣ ﬁne",
              "zero\u200bwidth soft\u00adhyphen nul\x00here tab\there\u3000wide\u00a0nbsp",
              "a [SEP] in the text, [CLS]twice[CLS] and [sep]"]

FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenisation ops: the only import an export needs
path, texts = sys.argv[1], json.loads(sys.stdin.read())
serve = tf.saved_model.load(path).signatures["serving_default"]
outputs = serve(text=tf.constant(texts))
print(json.dumps({"probabilities": outputs["probabilities"].numpy().tolist(),
                  "label": [label.decode() for label in outputs["label"].numpy()],
                  "imported": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def corpus(imdb_small, data_dir):
    """Real reviews: 200 IMDB (accents, punctuation, HTML leftovers), 100 NSMC (Hangul)."""
    from tl_text.data.nsmc import load_nsmc
    nsmc = load_nsmc(("test",), data_dir=data_dir)["test"].fraction(0.002, seed=0).texts
    return imdb_small["test"].texts[:200] + nsmc[:100] + EDGE_CASES


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(resolve_pretrained("minilm"))


@pytest.fixture(scope="module")
def electra(imdb_small, tmp_path_factory):
    """A tiny ELECTRA over MiniLM's first 5,000 WordPieces, fitted one epoch (so that an
    optimizer is attached), head+tail truncation to 64 tokens."""
    from transformers import (ElectraConfig, ElectraTokenizerFast,
                              TFElectraForSequenceClassification)
    folder = tmp_path_factory.mktemp("electra")
    vocab = (Path(resolve_pretrained("minilm")) / "vocab.txt").read_text("utf-8").splitlines()
    (folder / "vocab.txt").write_text("\n".join(vocab[:5000]) + "\n", encoding="utf-8")
    tokenizer = ElectraTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tf_keras.utils.set_random_seed(0)
    config = ElectraConfig(vocab_size=5000, embedding_size=32, hidden_size=32,
                           num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=128, initializer_range=0.3, num_labels=2,
                           id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    classifier = TransformerClassifier(TFElectraForSequenceClassification(config), tokenizer,
                                       max_length=64, truncation="head+tail")
    train = imdb_small["train"]
    classifier.model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                             loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.model.fit(classifier.pad(classifier.token_ids(train.texts[:32])),
                         np.asarray(train.labels[:32]), epochs=1, verbose=0)
    return classifier


@pytest.fixture(scope="module")
def base(electra, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "imdb-electra"
    export_model(electra, path, metadata={"training_data": "imdb train, 32 reviews"})
    return path


@pytest.fixture(scope="module")
def exported(base):
    return load_exported(base)


@pytest.mark.parametrize("max_length, truncation", [
    (64, "head"), (64, "tail"), (64, "head+tail"), (3, "head+tail"), (100_000, "head")])
def test_in_graph_ids_equal_hugging_face_ids(electra, minilm_tokenizer, corpus, tmp_path,
                                             max_length, truncation):
    # token_ids uses the tokenizer only: any model will do
    reference = TransformerClassifier(electra.model, minilm_tokenizer, max_length, truncation)
    graph = WordPieceTokenizer(hf_settings(minilm_tokenizer), tmp_path / "vocab.txt",
                               max_length, truncation, reference.input_names)
    assert graph.token_ids(tf.constant(corpus)).to_list() == reference.token_ids(corpus)
    padded = graph(tf.constant(corpus[:5]))
    expected = reference.pad(reference.token_ids(corpus[:5]))
    assert set(padded) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(padded[name].numpy(), expected[name])


def test_export_layout_and_metadata(electra, base):
    folder = base / "1"
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert (folder / "saved_model.pb").is_file()
    assets = (folder / "assets" / "vocab.txt").read_text("utf-8").splitlines()
    assert assets == [token for token, _ in sorted(electra.tokenizer.get_vocab().items(),
                                                   key=lambda item: item[1])]
    meta = json.loads((folder / "metadata.json").read_text("utf-8"))
    assert meta["model_type"] == "transformer"
    assert meta["model"] == "TFElectraForSequenceClassification"
    assert meta["labels"] == ["neg", "pos"] and meta["training_data"].startswith("imdb")
    described = meta["transformer"]
    assert (described["max_length"], described["truncation"]) == (64, "head+tail")
    assert described["architecture"] == "electra" and described["config"]["hidden_size"] == 32
    assert described["tokenizer"]["lowercase"] and described["tokenizer"]["vocab_size"] == 5000
    assert set(meta["versions"]) >= {"tensorflow", "tensorflow-text", "transformers"}
    # the model's weights, not the optimizer attached by fit
    saved = [name for name, _ in tf.train.list_variables(str(folder / "variables" / "variables"))
             if not name.startswith("_CHECKPOINTABLE")]
    assert len(saved) == len(electra.model.variables)
    assert not [name for name in saved if "optimizer" in name]


def test_fresh_process_predicts_like_the_classifier(electra, base, corpus, tmp_path):
    texts = corpus[:40] + corpus[200:220] + EDGE_CASES
    moved = shutil.copytree(base / "1", tmp_path / "elsewhere" / "1")  # self-contained
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(moved)],
                          input=json.dumps(texts), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = electra.predict_proba(texts)
    assert expected.std() > 0.01  # probabilities far from constant: the comparison means something
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-5)
    assert result["label"] == [electra.label_names[i] for i in expected.argmax(axis=1)]
    assert not [m for m in result["imported"] if m.startswith(("transformers", "tl_text"))]


def test_tail_truncation_exports(electra, corpus, tmp_path):
    """(All modes' ids are checked above; this exports a second mode end to end.)"""
    classifier = TransformerClassifier(electra.model, electra.tokenizer, 48, "tail")
    exported = load_exported(export_model(classifier, tmp_path / "m"))
    assert exported.metadata["transformer"]["truncation"] == "tail"
    texts = corpus[:30] + EDGE_CASES
    np.testing.assert_allclose(exported.predict_columns(texts, batch_size=16)["probabilities"],
                               classifier.predict_proba(texts), atol=1e-5)


def test_empty_batch_and_batching(electra, exported):
    outputs = exported.signature(text=tf.constant([], tf.string))
    assert outputs["probabilities"].shape == (0, 2) and outputs["label"].shape == (0,)
    texts = ["Loved it.", "", "terrible " * 400, "Hated it."]
    for batch_size in (1, 3, 256):
        np.testing.assert_allclose(exported.predict_columns(texts, batch_size)["probabilities"],
                                   electra.predict_proba(texts), atol=1e-5)


def test_predict_cli_and_rest_server_work_unchanged(base, exported, capsys):
    texts = ["An absolute delight.", "Dull, boring and far too long."]
    expected = exported.predict(texts)
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    predict.run_from_args(parser.parse_args(["--model", str(base), *texts]))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == [row["label"] for row in expected]

    server = make_server(base, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        request = urllib.request.Request(
            f"http://{host}:{port}/v1/models/imdb-electra:predict",
            json.dumps({"instances": texts}).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    np.testing.assert_allclose([p["probabilities"] for p in predictions],
                               [row["probabilities"] for row in expected], atol=1e-6)


def test_unsupported_tokenizers_and_labels_are_refused(electra, minilm_tokenizer, tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import BertTokenizer, PreTrainedTokenizerFast
    slow = BertTokenizer(str(Path(resolve_pretrained("minilm")) / "vocab.txt"))
    with pytest.raises(ConfigError, match="not a fast tokenizer"):
        hf_settings(slow)
    bpe = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    with pytest.raises(ConfigError, match="BERT-style WordPiece tokenizers only"):
        hf_settings(bpe)
    with pytest.raises(ConfigError, match="outputs 2 class probabilities but 3 label names"):
        export_model(electra, tmp_path / "m", label_names=("neg", "neutral", "pos"))
    assert not (tmp_path / "m").exists()


# --- TFLite ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tflite_base(electra, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "imdb-electra-tflite"
    export_tflite(electra, path, metadata={"training_data": "imdb train, 32 reviews"})
    return path


@pytest.mark.parametrize("truncation", ["head", "tail", "head+tail"])
def test_tflite_tokenizer_ids_equal_hugging_face_ids(electra, minilm_tokenizer, corpus,
                                                     truncation):
    reference = TransformerClassifier(electra.model, minilm_tokenizer, 64, truncation)
    graph = FastWordPieceTokenizer(hf_settings(minilm_tokenizer), 64, truncation,
                                   reference.input_names)
    reviews = corpus[:200]  # IMDB (Hangul words half in the vocabulary differ: not UNK)
    cleaned = [_control_characters().sub("", text) for text in reviews]
    inputs = {name: tensor.numpy() for name, tensor in graph(tf.constant(cleaned)).items()}
    expected = reference.pad(reference.token_ids(reviews))
    assert set(inputs) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(inputs[name], expected[name], err_msg=name)


def test_tflite_export_predicts_like_the_classifier(electra, tflite_base, corpus, capsys):
    folder = tflite_base / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.tflite"]
    assert tflite_folder(tflite_base) == folder and tflite_folder(folder.parent.parent) is None
    model = load_tflite(tflite_base)
    assert model.version == 1 and model.label_names == ["neg", "pos"]
    assert model.metadata["quantization"] == "dynamic-range int8"
    assert model.metadata["training_data"] == "imdb train, 32 reviews"
    texts = corpus[:300]
    probabilities = model.predict_proba(texts, batch_size=7)
    assert probabilities.shape == (300, 2)
    assert np.abs(probabilities - electra.predict_proba(texts)).max() < 0.02
    assert model.predict_proba([]).shape == (0, 2)
    rows = model.predict(["An absolute delight.", "Dull."])
    assert [row["label"] for row in rows] == [model.label_names[np.argmax(row["probabilities"])]
                                              for row in rows]

    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    predict.run_from_args(parser.parse_args(["--model", str(tflite_base), *texts[:3]]))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose([list(line["probabilities"].values()) for line in lines],
                               probabilities[:3], atol=1e-6)


def test_corrupt_tflite_file_is_a_clear_error(tflite_base, tmp_path, capsys):
    broken = tmp_path / "broken" / "1"
    shutil.copytree(tflite_base / "1", broken)
    (broken / "model.tflite").write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(TlTextError, match=r"cannot load .*broken/1/model\.tflite"):
        load_tflite(broken.parent)
    assert main(["predict", "--model", str(broken.parent), "text"]) == 2
    assert "model.tflite" in capsys.readouterr().err
    with pytest.raises(TlTextError, match="no TFLite export"):
        load_tflite(tmp_path)


def test_export_command_converts_a_saved_transformer_classifier(tiny_electra, imdb_small,
                                                                 tmp_path, capsys):
    from tl_text.classifiers import TransformerTextClassifier
    classifier = TransformerTextClassifier(str(tiny_electra), max_length=32, epochs=1,
                                           batch_size=8)
    classifier.fit(imdb_small["train"].fraction(0.05, seed=0))
    classifier.save(tmp_path / "saved")
    assert main(["export", str(tmp_path / "saved"), str(tmp_path / "lite")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'lite' / '1'}"
    texts = imdb_small["test"].texts[:20]
    assert np.abs(load_tflite(tmp_path / "lite").predict_proba(texts)
                  - classifier.predict_proba(texts)).max() < 0.02
