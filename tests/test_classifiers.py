"""The classifier protocol on small synthetic data (no data root): fit, predict_proba,
save → load_classifier, export → load_exported, transfer from a source, ensembles; and a
bfloat16 CNN on a small real IMDB slice."""

import json

import numpy as np
import pytest

from tl_text.classifiers import (CNNClassifier, Ensemble, NBLogisticRegression,
                                 TfidfLogisticRegression, load_classifier)
from tl_text.classifiers.arms import ARMS, ArmOptions, Sources, build, split_spec
from tl_text.data import TextDataset
from tl_text.errors import ConfigError
from tl_text.export.savedmodel import load_exported

WORDS = {0: ["awful", "boring", "terrible", "dull", "waste"],
         1: ["fine", "average", "okay", "decent", "passable"],
         2: ["superb", "wonderful", "brilliant", "great", "moving"]}
NAMES = ("bad", "meh", "good")


def synthetic(n: int, classes: int = 2, seed: int = 0, name: str = "toy") -> TextDataset:
    """Reviews of `classes` classes, each with two class words among neutral ones."""
    rng = np.random.default_rng(seed)
    neutral = "the film plot actor scene story was and it a".split()
    labels = np.arange(n) % classes
    texts = []
    for label in labels:
        words = list(rng.choice(neutral, 8)) + list(rng.choice(WORDS[label if classes > 2
                                                                     else 2 * label], 2))
        rng.shuffle(words)
        texts.append(" ".join(words) + ".")
    return TextDataset(name, [f"{name}-{i}" for i in range(n)], texts, labels,
                       NAMES[:classes] if classes > 2 else ("neg", "pos"))


def small_cnn(**options) -> CNNClassifier:
    return CNNClassifier(**{"architecture": "kim", "epochs": 3, "min_epochs": 3,
                            "batch_size": 16, "sequence_length": 20, **options})


@pytest.fixture(scope="module")
def fitted_cnn():
    return small_cnn().fit(synthetic(160))


def test_cnn_learns_takes_the_classes_from_the_data_and_records_its_fit():
    train, test = synthetic(240, classes=3), synthetic(60, classes=3, seed=1)
    clf = small_cnn(epochs=6, min_epochs=6).fit(train)
    assert clf.label_names_ == NAMES
    probs = clf.predict_proba(test.texts)
    assert probs.shape == (60, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (probs.argmax(axis=1) == test.labels).mean() > 0.8
    assert clf.fit_info_["epochs"] >= 1 and "GloVe" in clf.fit_info_["notes"]
    assert clf.predict(["a superb and wonderful film."]) == ["good"]


def test_cnn_save_load_and_export_give_the_same_probabilities(fitted_cnn, tmp_path):
    texts = synthetic(20, seed=3).texts
    expected = fitted_cnn.predict_proba(texts)
    folder = fitted_cnn.save(tmp_path / "cnn")
    assert folder == tmp_path / "cnn" / "1"
    loaded = load_classifier(tmp_path / "cnn")
    assert isinstance(loaded, CNNClassifier) and loaded.label_names_ == ("neg", "pos")
    assert loaded.get_config() == fitted_cnn.get_config()
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    exported = load_exported(folder)
    np.testing.assert_allclose(exported.predict_columns(texts)["probabilities"], expected,
                               atol=1e-5)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["classifier"]["kind"] == "cnn"
    assert metadata["fit_info"]["epochs"] == fitted_cnn.fit_info_["epochs"]


def test_transfer_from_a_source_cnn_in_memory_or_saved(fitted_cnn, tmp_path):
    source_path = fitted_cnn.save(tmp_path / "source")
    target = synthetic(80, seed=5)
    network = small_cnn(init_from=fitted_cnn, transfer="network", epochs=1, min_epochs=1)
    network.fit(target)
    assert "words updated" in network.fit_info_["notes"]
    from_disk = small_cnn(init_from=source_path, transfer="network", epochs=1, min_epochs=1)
    from_disk.fit(target)
    texts = synthetic(10, seed=6).texts
    np.testing.assert_allclose(from_disk.predict_proba(texts), network.predict_proba(texts),
                               atol=1e-6)
    assert from_disk.get_config()["init_from"] == str(source_path)
    with pytest.raises(ConfigError, match="needs a denil source"):
        CNNClassifier("denil", init_from=fitted_cnn, transfer="network").fit(target)


def test_ensemble_exports_one_savedmodel_averaging_its_members(fitted_cnn, tmp_path):
    train = synthetic(160)
    linear = NBLogisticRegression().fit(train)
    ensemble = Ensemble([fitted_cnn, linear], weights=[3, 1], prefit=True)
    texts = synthetic(30, seed=7).texts
    expected = 0.75 * fitted_cnn.predict_proba(texts) + 0.25 * linear.predict_proba(texts)
    np.testing.assert_allclose(ensemble.predict_proba(texts), expected, atol=1e-6)
    folder = ensemble.export(tmp_path / "ensemble")
    assert sorted(p.name for p in (folder / "members").iterdir()) == ["0", "1"]
    exported = load_exported(folder)
    np.testing.assert_allclose(exported.predict_columns(texts)["probabilities"], expected,
                               atol=1e-5)
    reloaded = load_classifier(folder)
    np.testing.assert_allclose(reloaded.predict_proba(texts), expected, atol=1e-6)


def test_ensemble_fit_fits_every_member_and_checks_labels():
    train = synthetic(160)
    ensemble = Ensemble([small_cnn(epochs=1, min_epochs=1), TfidfLogisticRegression()])
    ensemble.fit(train)
    assert all(m.label_names_ == ("neg", "pos") for m in ensemble.members)
    other = NBLogisticRegression().fit(synthetic(90, classes=3))
    with pytest.raises(ConfigError, match="same labels"):
        Ensemble([ensemble.members[1], other], prefit=True)
    with pytest.raises(ConfigError, match="at least two members"):
        Ensemble([other])


def test_protocol_errors():
    with pytest.raises(ConfigError, match="not fitted"):
        small_cnn().predict_proba(["text"])
    with pytest.raises(ConfigError, match="at least two classes"):
        NBLogisticRegression().fit(synthetic(10).subset([0, 2, 4]))
    with pytest.raises(ConfigError, match="architecture must be one of"):
        CNNClassifier("lstm")
    with pytest.raises(ConfigError, match="precision must be one of"):
        CNNClassifier(precision="float16")


def test_every_arm_and_ensembles_build_an_unfitted_classifier(tmp_path):
    options = ArmOptions(models_dir=str(tmp_path))
    sources = Sources(options)
    for arm in ARMS:
        if arm in ("amazon-emb", "gensim-emb", "finetune", "bert-transfer"):
            continue  # these learn from the source first (tests/test_train.py runs them)
        assert not hasattr(build(arm, options, 0, sources), "label_names_")
    bf16 = build("kim", ArmOptions(models_dir=str(tmp_path), precision="bfloat16"), 0, sources)
    assert bf16.precision == "bfloat16"
    ensemble = build("kim+nb-lr", options, 1, sources)
    assert isinstance(ensemble, Ensemble) and ensemble.members[0].seed == 1
    with pytest.raises(ConfigError, match="unknown or repeated arm"):
        split_spec("nb-lr+gpt")
    with pytest.raises(ConfigError, match="unknown or repeated arm"):
        split_spec("nb-lr+nb-lr")


@pytest.mark.parametrize("architecture", ["kim", "denil"])
def test_bfloat16_cnn_trains_saves_and_exports_float32_probabilities(architecture, imdb_small,
                                                                     tmp_path):
    import tensorflow as tf
    import tf_keras

    texts = imdb_small["test"].texts[:100]
    clf = small_cnn(architecture=architecture, precision="bfloat16", sequence_length=400,
                    epochs=1, min_epochs=1).fit(imdb_small["train"])
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # nothing left behind
    convolutions = [layer for layer in clf.model_.layers if "conv" in layer.name]
    assert convolutions and all(layer.compute_dtype == "bfloat16" for layer in convolutions)
    expected = clf.predict_proba(texts)
    assert expected.dtype == np.float32
    assert np.allclose(expected.sum(axis=1), 1, atol=1e-5)
    folder = clf.save(tmp_path / "bf16")
    loaded = load_classifier(tmp_path / "bf16")
    assert loaded.precision == "bfloat16"
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    exported = load_exported(folder)
    assert exported.signature.structured_outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(exported.predict_columns(texts)["probabilities"], expected,
                               atol=1e-3)
    as_float32 = clf.with_precision("float32")  # the same weights
    assert all(layer.compute_dtype == "float32" for layer in as_float32.model_.layers
               if "conv" in layer.name)
    np.testing.assert_allclose(as_float32.predict_proba(texts), expected, atol=0.05)
    np.testing.assert_allclose(as_float32.with_precision("bfloat16").predict_proba(texts),
                               expected, atol=1e-6)
