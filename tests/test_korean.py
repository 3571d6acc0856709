"""Korean track: the WordPiece/character tokenizer, CNN and baselines on real NSMC slices."""

import json
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tl_text.cli import main
from tl_text.errors import DataError
from tl_text.export.savedmodel import load_exported
from tl_text.experiments.nsmc import NsmcConfig, make_classifier
from tl_text.models import kim_cnn
from tl_text.models.subword import (PieceVectorizer, char_vocabulary, make_piece_vectorizer,
                                    save_tokenizer, train_wordpiece, wordpiece_vocabulary)
from tl_text.training import accuracy, fit, predict_proba


@pytest.fixture(scope="module")
def nsmc(data_dir):
    """2,000 stratified training and 1,000 stratified test reviews."""
    from tl_text.data import load_nsmc
    splits = load_nsmc(data_dir=data_dir, skip_empty=True)
    return {"train": splits["train"].fraction(2000 / 150000, seed=0),
            "test": splits["test"].fraction(0.02, seed=0)}


@pytest.fixture(scope="module")
def tokenizer(nsmc):
    return train_wordpiece(nsmc["train"].texts, vocab_size=3000)


def test_wordpiece_in_the_graph_matches_tokenizers(nsmc, tokenizer, tmp_path):
    vocabulary = wordpiece_vocabulary(tokenizer)
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocabulary) == 3000 and any(t.startswith("##") for t in vocabulary)
    path = save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    assert json.loads(path.read_text())["model"]["type"] == "WordPiece"
    assert wordpiece_vocabulary(path) == vocabulary

    texts = nsmc["test"].texts[:300]  # unseen reviews: [UNK]s and rare splits included
    ours = PieceVectorizer(vocabulary, "wordpiece").pieces(texts)
    theirs = [encoding.tokens for encoding in tokenizer.encode_batch(texts)]
    assert ours == theirs
    # Korean words split into stem + ending pieces, e.g. 영화는 / 영화를 share a stem piece
    pieces = {p for doc in ours for p in doc}
    assert {"영화", "##는"} <= pieces or {"영화는"} <= pieces


def test_char_unit_is_one_token_per_normalised_character(nsmc):
    vocabulary = char_vocabulary(nsmc["train"].texts, max_size=500)
    assert vocabulary[:2] == ["[PAD]", "[UNK]"] and len(vocabulary) == 500
    vectorizer = PieceVectorizer(vocabulary, "char", sequence_length=140)
    texts = ["재밌게  봤어요 ＡＢ~", *nsmc["test"].texts[:100]]
    known = set(vocabulary)
    for text, pieces in zip(texts, vectorizer.pieces(texts)):
        chars = " ".join(unicodedata.normalize("NFC", text).lower().split())
        assert pieces == [c if c in known else "[UNK]" for c in chars]
    assert vectorizer.pieces(["재밌게  봤어요 ＡＢ~"])[0][:6] == ["재", "밌", "게", " ", "봤", "어"]


def test_ids_are_padded_and_truncated(tokenizer):
    vectorizer = PieceVectorizer(wordpiece_vocabulary(tokenizer), "wordpiece", sequence_length=8)
    ids = vectorizer(tf.constant(["정말 재미있는 영화", "", "아 " * 20])).numpy()
    assert ids.shape == (3, 8)
    assert ids[0, 0] > 4 and ids[0, -1] == 0  # short review: pieces, then [PAD]
    assert (ids[1] == 0).all()
    assert (ids[2] > 0).all()  # long review: cut at 8 pieces


def test_cnn_on_wordpiece_takes_raw_strings_and_round_trips(nsmc, tmp_path):
    train, test = nsmc["train"], nsmc["test"]
    vectorizer, _ = make_piece_vectorizer(train.texts, "wordpiece", 3000, 48)
    matrix = np.random.default_rng(0).normal(scale=0.05, size=(3000, 32)).astype(np.float32)
    tf_keras.utils.set_random_seed(0)
    model = kim_cnn(vectorizer, matrix)
    fit_train, valid = train.split(0.1, seed=0)
    fit(model, fit_train, valid, epochs=4, batch_size=32, patience=1, verbose=0)
    probs = predict_proba(model, test.texts)
    assert accuracy(probs, test.labels) > 0.62  # 1,800 reviews, chance is 0.5

    clone = tf_keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(predict_proba(clone, test.texts[:50]), probs[:50], atol=1e-6)

    from tl_text.export import export_model
    export_model(model, tmp_path / "korean")
    served = tf.saved_model.load(str(tmp_path / "korean" / "1")).signatures["serving_default"]
    out = served(text=tf.constant(test.texts[:50]))["probabilities"].numpy()
    np.testing.assert_allclose(out, probs[:50], atol=1e-5)


@pytest.mark.parametrize("unit", ["char", "wordpiece"])
def test_linear_baselines_on_korean_units(nsmc, unit, tmp_path):
    train, test = nsmc["train"], nsmc["test"]
    model = make_classifier(f"nb-lr:{unit}", NsmcConfig(vocab_size=3000)).fit(train)
    probabilities = model.predict_proba(test.texts)
    assert accuracy(probabilities, test.labels) > 0.72
    features = set(model.vocabulary_)
    if unit == "wordpiece":
        assert "##는" in features and any(" " in f for f in features)  # piece bigrams
    else:
        assert "영화" in features and " 영" in features  # char n-grams, word-bounded
    exported = load_exported(model.export(tmp_path / unit))  # tokenises in the graph
    np.testing.assert_allclose(exported.predict_columns(test.texts[:50])["probabilities"],
                               probabilities[:50], atol=1e-5)


def test_bad_tokenizer_files_and_vocabularies(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="tokenizer.json: not a tokenizers JSON file"):
        wordpiece_vocabulary(bad)
    with pytest.raises(ValueError, match='must start with "\\[PAD\\]", "\\[UNK\\]"'):
        PieceVectorizer(["a", "b"], "wordpiece")
    with pytest.raises(ValueError, match="unit must be one of"):
        PieceVectorizer(["[PAD]", "[UNK]"], "jamo")


def test_nsmc_command_end_to_end(tmp_path, data_dir, capsys):
    out = tmp_path / "out"
    code = main(["nsmc", "--arms", "nb-lr:char,kim:wordpiece,kim:wordpiece+nb-lr:char",
                 "--train-fraction", "0.01", "--test-fraction", "0.01", "--vocab-size", "2000",
                 "--epochs", "1", "--verbose", "0", "--data-dir", str(data_dir),
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "results.json").read_text())
    assert [r["arm"] for r in result["rows"]] == ["nb-lr:char", "kim:wordpiece",
                                                 "kim:wordpiece+nb-lr:char"]
    assert {(r["train_docs"], r["test_docs"]) for r in result["rows"]} == {(1500, 500)}
    assert result["rows"][0]["accuracy"] > 0.7
    assert "| nb-lr:char |" in (out / "results.md").read_text()
    assert result["classifiers"]["kim:wordpiece"]["config"]["tokens"] == "wordpiece"


@pytest.mark.parametrize("arms, message", [
    ("kim:jamo", "unknown arm 'kim:jamo'"),
    ("kim:word", "kim:word is the English CNN"),
    ("transformer:char", "the transformer arm takes no unit"),
    ("nb-lr:char+kim:char", "needs nb-lr:char and kim:char listed before it"),
])
def test_bad_arms_exit_2(arms, message, tmp_path, capsys):
    assert main(["nsmc", "--arms", arms, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def tiny_korean_electra(tmp_path_factory, tokenizer, make_tiny_electra):
    """The tiny ELECTRA over the WordPiece vocabulary learnt on NSMC."""
    folder = tmp_path_factory.mktemp("ko-electra")
    (folder / "vocab.txt").write_text("\n".join(wordpiece_vocabulary(tokenizer)) + "\n",
                                      encoding="utf-8")
    # strip_accents=False: BERT's accent stripping would decompose Hangul into jamo
    return make_tiny_electra(folder, folder / "vocab.txt", strip_accents=False,
                             max_positions=128)


def test_transformer_arm_loads_a_korean_model_by_path(tiny_korean_electra, tokenizer, data_dir,
                                                      tmp_path, capsys):
    from tl_text.models.transformer import TransformerClassifier

    clf = TransformerClassifier.from_pretrained(tiny_korean_electra, ("neg", "pos"))
    review = "영화는 정말 재미있었다 ㅋㅋ 강추! ㅠㅠ"
    ours = PieceVectorizer(wordpiece_vocabulary(tokenizer), "wordpiece").pieces([review])[0]
    assert clf.tokenizer.tokenize(review) == ours

    out = tmp_path / "out"
    code = main(["nsmc", "--arms", "transformer,nb-lr:char,transformer+nb-lr:char",
                 "--pretrained", str(tiny_korean_electra), "--train-fraction", "0.005",
                 "--test-fraction", "0.004", "--transformer-epochs", "1", "--verbose", "0",
                 "--data-dir", str(data_dir), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "results.json").read_text())
    rows = result["rows"]
    assert [r["arm"] for r in rows] == ["transformer", "nb-lr:char", "transformer+nb-lr:char"]
    assert rows[0]["test_docs"] == 200
    assert result["classifiers"]["transformer"]["config"]["pretrained"] == str(
        tiny_korean_electra)
    assert all(0.3 < r["accuracy"] <= 1 for r in rows)
