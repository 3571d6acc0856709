"""Transformer classifiers: loading, truncation, bucketed batches, both trainers, bfloat16,
save/load, lr_find, schedules."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tl_text.errors import ConfigError
from tl_text.models.transformer import TransformerClassifier
from tl_text.training.schedules import OneCycle, WarmupLinearDecay
from tl_text.training.transformer_fit import fit_transformer, lr_find, token_batches

LONG = " ".join(f"word{i}" for i in range(400))


@pytest.fixture(scope="module")
def reviews(imdb):
    """40 stratified IMDB training reviews and 20 test reviews."""
    return imdb["train"].fraction(0.0016, seed=1), imdb["test"].fraction(0.0008, seed=1)


@pytest.fixture(scope="module")
def minilm():
    return TransformerClassifier.from_pretrained("minilm", ("neg", "pos"), max_length=64)


def test_packaged_minilm_loads_as_a_bert_classifier(minilm):
    assert type(minilm.model).__name__ == "TFBertForSequenceClassification"
    assert minilm.label_names == ("neg", "pos")
    assert minilm.input_names == ["input_ids", "attention_mask", "token_type_ids"]
    ids = minilm.token_ids(["A wonderful film!"])[0]
    assert minilm.tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "a", "wonderful", "film",
                                                          "!", "[SEP]"]


def test_tiny_electra_loads_by_path(tiny_electra):
    clf = TransformerClassifier.from_pretrained(tiny_electra, ("neg", "pos"), max_length=32)
    assert type(clf.model).__name__ == "TFElectraForSequenceClassification"
    probs = clf.predict_proba(["good", "bad movie", ""])
    assert probs.shape == (3, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("truncation", ["head", "tail", "head+tail"])
def test_truncation_keeps_the_promised_tokens(minilm, truncation):
    clf = TransformerClassifier(minilm.model, minilm.tokenizer, 34, truncation)
    full = clf.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    ids = clf.token_ids([LONG, "short text"])
    assert len(ids[0]) == 34 and ids[0][0] == clf.tokenizer.cls_token_id
    assert ids[0][-1] == clf.tokenizer.sep_token_id
    body = ids[0][1:-1]
    expected = {"head": full[:32], "tail": full[-32:], "head+tail": full[:8] + full[-24:]}
    assert body == expected[truncation]
    assert len(ids[1]) == 4  # short texts are left alone


def test_predictions_do_not_depend_on_batch_composition(minilm, reviews):
    texts = reviews[1].texts[:6]
    together = minilm.predict_proba(texts, batch_size=4)
    alone = np.concatenate([minilm.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("trainer", ["native", "ktrain"])
def test_minilm_trains_and_round_trips(minilm, reviews, trainer, tmp_path):
    train, test = reviews
    before = minilm.predict_proba(test.texts)
    result = fit_transformer(minilm, train, test, epochs=1, batch_size=8,
                             learning_rate=5e-5, trainer=trainer, verbose=0)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(result.history["loss"]) == 1 and result.seconds_per_epoch > 0
    after = minilm.predict_proba(test.texts)
    assert not np.allclose(before, after)  # the weights moved

    minilm.save_pretrained(tmp_path / "clf", metadata={"trained_on": "imdb"})
    settings = json.loads((tmp_path / "clf" / "tl_text.json").read_text())
    assert settings == {"max_length": 64, "truncation": "head", "label_names": ["neg", "pos"],
                        "metadata": {"trained_on": "imdb"}}
    loaded = TransformerClassifier.from_pretrained(tmp_path / "clf")
    assert (loaded.max_length, loaded.truncation) == (64, "head")
    assert np.allclose(loaded.predict_proba(test.texts), after, atol=1e-6)


@pytest.mark.parametrize("trainer", ["native", "ktrain"])
def test_electra_trains_with_both_trainers(tiny_electra, reviews, trainer, tmp_path):
    clf = TransformerClassifier.from_pretrained(tiny_electra, ("neg", "pos"), max_length=32,
                                                truncation="head+tail")
    result = fit_transformer(clf, reviews[0], None, epochs=1, batch_size=8,
                             learning_rate=1e-3, trainer=trainer, verbose=0)
    assert list(result.history) == ["loss", "accuracy"]
    assert np.isfinite(result.history["loss"][0])
    clf.save_pretrained(tmp_path / "electra")
    loaded = TransformerClassifier.from_pretrained(tmp_path / "electra")
    assert loaded.truncation == "head+tail"
    assert np.allclose(loaded.predict_proba(reviews[1].texts),
                       clf.predict_proba(reviews[1].texts), atol=1e-6)


def test_frozen_features_are_mean_pooled(minilm):
    features = minilm.features(["A wonderful film.", "Awful.", "A wonderful film."])
    assert features.shape == (3, 384)
    assert np.allclose(features[0], features[2], atol=1e-5)
    assert not np.allclose(features[0], features[1])
    # "Awful." is padded in that batch; alone, its mean over every token must be the same
    encoder = getattr(minilm.model, minilm.model.base_model_prefix)
    alone = encoder(minilm.pad(minilm.token_ids(["Awful."]))).last_hidden_state.numpy()[0]
    np.testing.assert_allclose(features[1], alone.mean(axis=0), atol=1e-5)


def test_lr_find_saves_a_plot_and_restores_the_weights(tiny_electra, reviews, tmp_path):
    clf = TransformerClassifier.from_pretrained(tiny_electra, ("neg", "pos"), max_length=32)
    before = clf.predict_proba(reviews[1].texts)
    found = lr_find(clf, reviews[0], tmp_path / "lr.png", batch_size=4, start_lr=1e-5,
                    verbose=0)
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(found["lrs"]) == len(found["losses"]) == 10
    assert found["lrs"] == sorted(found["lrs"]) and found["lrs"][0] == pytest.approx(1e-5)
    assert np.allclose(clf.predict_proba(reviews[1].texts), before, atol=1e-6)


def test_schedules_have_the_documented_shape():
    warm = WarmupLinearDecay(1e-4, total_steps=100, warmup_steps=10)
    assert [float(warm(s)) for s in (0, 5, 10, 55, 100)] == pytest.approx(
        [0, 5e-5, 1e-4, 5e-5, 0], abs=1e-9)
    cycle = OneCycle(1e-3, total_steps=100)
    assert [float(cycle(s)) for s in (0, 45, 90, 100)] == pytest.approx(
        [1e-4, 1e-3, 1e-4, 1e-6], rel=1e-4)


def test_bad_settings_are_clear_errors(minilm, tmp_path):
    with pytest.raises(ConfigError, match="truncation must be one of"):
        TransformerClassifier(minilm.model, minilm.tokenizer, 64, "middle")
    with pytest.raises(ConfigError, match="leaves no room"):
        TransformerClassifier(minilm.model, minilm.tokenizer, 2)
    with pytest.raises(ConfigError, match="cannot load pretrained model"):
        TransformerClassifier.from_pretrained(tmp_path / "nothing-here")
    with pytest.raises(ConfigError, match="trainer must be one of"):
        fit_transformer(minilm, None, trainer="keras")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        minilm.save_pretrained(tmp_path / "taken")


def test_lr_find_command(tiny_electra, data_dir, tmp_path, capsys):
    from tl_text.cli import main

    assert main(["lr-find", "books", "--pretrained", str(tiny_electra), "--fraction", "0.02",
                 "--max-length", "32", "--batch-size", "4", "--start-lr", "1e-5",
                 "--data-dir", str(data_dir), "--out", str(tmp_path / "lr.png")]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["plot"] == str(tmp_path / "lr.png") and report["valley_lr"] > 0
    assert (tmp_path / "lr.png").stat().st_size > 1000


def test_lr_find_refuses_a_single_class_file(tmp_path, capsys):
    from tl_text.cli import main

    data = tmp_path / "one-class.csv"
    data.write_text("text,label\n" + "".join(f"review {i},pos\n" for i in range(20)))
    assert main(["lr-find", str(data), "--out", str(tmp_path / "lr.png")]) == 2
    assert "needs documents of at least two classes" in capsys.readouterr().err
    assert not (tmp_path / "lr.png").exists()


def test_bucketed_batches_cover_every_review_once_with_little_padding(minilm, imdb_small):
    train = imdb_small["train"]
    minilm = TransformerClassifier(minilm.model, minilm.tokenizer, 512)  # lengths vary
    lengths = np.array([len(row) for row in minilm.token_ids(train.texts)])

    def epoch(**options):
        batches = [(inputs["attention_mask"].numpy(), labels.numpy()) for inputs, labels
                   in token_batches(minilm, train, 16, **options)]
        assert all(mask[:, -1].any() for mask, _ in batches)  # padded to their own longest
        assert sorted(np.concatenate([mask.sum(1) for mask, _ in batches])) == sorted(lengths)
        assert np.bincount(np.concatenate([y for _, y in batches])).tolist() == \
            np.bincount(train.labels).tolist()
        return sum(mask.size for mask, _ in batches), [mask.sum(1) for mask, _ in batches]

    bucketed, first = epoch(shuffle_seed=0, pool_batches=5)
    random, _ = epoch(shuffle_seed=0, bucket_by_length=False)
    _, second = epoch(shuffle_seed=1, pool_batches=5)
    assert bucketed < random  # less padding
    assert [b.tolist() for b in first] != [b.tolist() for b in second]  # reshuffled
    _, in_order = epoch()
    assert np.all(np.diff(np.concatenate(in_order)) >= 0)  # unshuffled: by length


def test_dynamic_padding_predicts_like_fixed_padding_in_input_order(minilm, reviews):
    texts = reviews[1].texts[:8]
    fixed = tf.nn.softmax(minilm._logits(minilm.pad(minilm.token_ids(texts), 64)), -1).numpy()
    np.testing.assert_allclose(minilm.predict_proba(texts, batch_size=3), fixed, atol=1e-4)


def test_bfloat16_training_keeps_float32_weights_and_policy(tiny_electra, reviews, tmp_path):
    import tf_keras

    from tl_text.classifiers import TransformerTextClassifier, load_classifier

    train, test = reviews
    classifier = TransformerTextClassifier(str(tiny_electra), max_length=32, epochs=1,
                                           batch_size=8, precision="bfloat16")
    classifier.fit(train)
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored
    model = classifier.network_.model
    assert model.compute_dtype == "bfloat16" and model.variables[0].dtype == tf.float32
    probabilities = classifier.predict_proba(test.texts)
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    classifier.save(tmp_path / "bf16")
    loaded = load_classifier(tmp_path / "bf16")
    assert loaded.precision == "bfloat16" and loaded.network_.model.compute_dtype == "bfloat16"
    np.testing.assert_allclose(loaded.predict_proba(test.texts), probabilities, atol=1e-2)
    with pytest.raises(ConfigError, match="precision must be one of"):
        TransformerTextClassifier(str(tiny_electra), precision="float16").fit(train)


def test_checkpoints_leave_the_transformer_fit_unchanged(tiny_electra, reviews, tmp_path):
    """Checkpoints every 2 steps and every epoch: the very weights of the plain fit, and the
    checkpoint folder is gone once the fit ends; ktrain has no checkpoints."""
    fits = []
    for checkpoints in (None, tmp_path / "ckpt"):
        clf = TransformerClassifier.from_pretrained(tiny_electra, ("neg", "pos"), max_length=32)
        fit_transformer(clf, reviews[0], None, epochs=2, batch_size=8, learning_rate=1e-3,
                        verbose=0, checkpoint_dir=checkpoints, checkpoint_every=2)
        fits.append(clf.model.get_weights())
    for plain, checkpointed in zip(*fits, strict=True):
        np.testing.assert_array_equal(plain, checkpointed)
    assert not (tmp_path / "ckpt").exists()
    with pytest.raises(ConfigError, match="ktrain trainer"):
        fit_transformer(clf, reviews[0], trainer="ktrain", checkpoint_dir=tmp_path / "ckpt")


def test_attention_dropout_reaches_the_attention_layers_arms_and_command(tiny_electra, reviews,
                                                                         tmp_path):
    from tl_text.classifiers import TransformerTextClassifier, load_classifier
    from tl_text.classifiers.arms import ArmOptions, Sources, build
    from tl_text.cli import build_parser, config_from_args
    from tl_text.experiments.train import TrainConfig

    def attention_rates(network):
        return {layer.dropout.rate for layer in network.model.submodules
                if type(layer).__name__.endswith("SelfAttention")}

    pretrained = TransformerClassifier.from_pretrained(tiny_electra)
    assert attention_rates(pretrained) == {0.1}
    classifier = TransformerTextClassifier(str(tiny_electra), max_length=32, epochs=1,
                                           batch_size=8, attention_dropout=0.0,
                                           precision="bfloat16")
    classifier.fit(reviews[0])
    network = classifier.network_
    assert attention_rates(network) == {0.0} and network.model.config.hidden_dropout_prob == 0.1
    assert "bfloat16, attention dropout 0" in classifier.fit_info_["notes"]
    classifier.save(tmp_path / "saved")
    assert load_classifier(tmp_path / "saved").attention_dropout == 0.0
    with pytest.raises(ConfigError, match=r"attention_dropout must be in \[0, 1\), not 1.5"):
        TransformerClassifier.from_pretrained(tiny_electra, attention_dropout=1.5)

    args = build_parser().parse_args(["train", "imdb", "--model", "bert", "--precision",
                                      "bfloat16", "--bert-attention-dropout", "0",
                                      "--out", str(tmp_path / "out")])
    options = config_from_args(TrainConfig, args)
    assert options.bert_attention_dropout == 0.0
    arm = build("bert", options, 0, Sources(options))
    assert (arm.attention_dropout, arm.precision) == (0.0, "bfloat16")
    assert build("bert", ArmOptions(), 0, Sources(ArmOptions())).attention_dropout is None
