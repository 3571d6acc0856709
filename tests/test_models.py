"""CNN classifiers on raw strings: vectorisation, k-max pooling, training, config and SavedModel."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from sklearn.metrics import roc_auc_score

from tl_text.models.cnn import (Conv1DAsConv2D, MaxOverTimeConv, TrimPadding,
                                segment_kmax)
from tl_text.models import (KMaxPooling, SentenceVectorizer, denil_cnn, embedding_weights,
                            kim_cnn, make_vectorizer, split_sentences, standardize,
                            vectorizer_from_vocabulary, vocabulary)

BUILDERS = {"kim": kim_cnn, "denil": denil_cnn}
PROBE = ["A wonderful, moving film. I loved every minute!",
         "Dull plot... terrible acting. Don't bother.<br /><br />Avoid it.",
         ""]


def decoded(tensor):
    return [s.decode() for s in tensor.numpy().ravel()]


@pytest.fixture(scope="module")
def vectorizer(imdb_small):
    return make_vectorizer(imdb_small["train"].texts)


@pytest.fixture(scope="module")
def matrix(vectorizer):
    """Random 50-d vectors, one per vocabulary entry; row 0 (padding) zeros like GloVe's."""
    rows = np.random.default_rng(0).normal(scale=0.3, size=(vectorizer.vocabulary_size(), 50))
    rows[0] = 0
    return rows.astype(np.float32)


def train(build, vectorizer, matrix, dataset, epochs, **kwargs):
    tf_keras.utils.set_random_seed(0)
    model = build(vectorizer, matrix, **kwargs)
    model.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  ["accuracy"])
    model.fit(tf.constant(dataset.texts), dataset.labels, batch_size=32, epochs=epochs,
              verbose=0)
    return model


@pytest.fixture(scope="module")
def trained(imdb_small, vectorizer, matrix):
    """Both CNNs trained 3 epochs on the 400 imdb_small train reviews."""
    return {name: train(build, vectorizer, matrix, imdb_small["train"], epochs=3)
            for name, build in BUILDERS.items()}


def test_standardize_lowercases_and_splits_punctuation_and_clitics():
    text = tf.constant(['I Don\'t LIKE it.<br />It\'s "great", isn\'t it?! (no): yes;'])
    assert decoded(standardize(text))[0].split() == [
        "i", "do", "n't", "like", "it", ".", "it", "'s", '"', "great", '"', ",", "is", "n't",
        "it", "?", "!", "(", "no", ")", ":", "yes", ";"]


def test_standardize_separates_quote_apostrophes_but_keeps_inner_ones():
    text = tf.constant(["The 'best' o'clock rock-n-roll students' work, we'll see"])
    assert decoded(standardize(text))[0].split() == [
        "the", "'", "best", "'", "o'clock", "rock-n-roll", "students", "'", "work", ",",
        "we", "'ll", "see"]


def test_split_sentences_splits_and_truncates():
    docs = tf.constant(["One. Two!  Three?<br /><br />Four", "No stop here", "A. B. C. D. E."])
    sentences = split_sentences(docs, max_sentences=4).to_list()
    assert [[s.decode() for s in doc] for doc in sentences] == [
        ["One.", "Two!", "Three?", "Four"], ["No stop here"], ["A.", "B.", "C.", "D."]]


def test_vectorizer_vocabulary_starts_with_padding_and_unknown(vectorizer):
    words = vocabulary(vectorizer)
    assert words[:2] == ["", "[UNK]"]
    assert {".", ",", "the", "n't", "'s"} <= set(words)
    assert "don't" not in words
    assert len(words) == vectorizer.vocabulary_size() <= 30000
    assert vectorizer.name == "vectorizer"
    ids = vectorizer(tf.constant(["the movie", "zzzqqq"])).numpy()
    assert ids.shape == (2, 400)
    assert ids[0, :2].tolist() == [words.index("the"), words.index("movie")]
    assert ids[0, 2:].max() == 0 and ids[1, 0] == 1


def test_vectorizer_from_vocabulary_reproduces_the_ids(vectorizer):
    rebuilt = vectorizer_from_vocabulary(vocabulary(vectorizer), sequence_length=20)
    texts = tf.constant(PROBE)
    assert vocabulary(rebuilt) == vocabulary(vectorizer)
    np.testing.assert_array_equal(rebuilt(texts), vectorizer(texts)[:, :20])
    with pytest.raises(ValueError, match="UNK"):
        vectorizer_from_vocabulary(["the", "a"])


def test_sentence_vectorizer_shapes_documents_into_sentences(vectorizer):
    words = vocabulary(vectorizer)
    layer = SentenceVectorizer(words, max_sentences=3, words_per_sentence=4)
    ids = layer(tf.constant(["The movie. Great fun, the end", ""])).numpy()
    index = words.index
    assert ids.shape == (2, 3, 4)
    assert ids[0].tolist() == [[index("the"), index("movie"), index("."), 0],
                               [index("great"), index("fun"), index(","), index("the")],
                               [0, 0, 0, 0]]
    assert not ids[1].any()


def test_kmax_pooling_keeps_the_top_k_in_their_original_order():
    steps = tf.constant([[[1.0, 9.0], [5.0, 0.0], [2.0, 8.0], [7.0, 1.0], [3.0, 7.5]]])
    pooled = KMaxPooling(3)(steps).numpy()
    np.testing.assert_array_equal(pooled, [[[5.0, 9.0], [7.0, 8.0], [3.0, 7.5]]])


def test_kmax_pooling_pools_the_axis_before_features_of_any_rank():
    x = tf.random.stateless_normal([2, 3, 7, 5], seed=[1, 2])
    pooled = KMaxPooling(2)(x).numpy()
    assert pooled.shape == (2, 3, 2, 5)
    values = x.numpy()
    for b, s, f in np.ndindex(2, 3, 5):
        column = values[b, s, :, f]
        top = np.sort(np.argsort(column)[-2:])
        np.testing.assert_array_equal(pooled[b, s, :, f], column[top])
    assert KMaxPooling.from_config(KMaxPooling(2).get_config()).k == 2


def test_kmax_pooling_with_ids_pools_only_non_empty_rows():
    values = tf.constant([[[1.0], [9.0], [5.0]], [[2.0], [8.0], [7.0]]])
    ids = tf.constant([[[3, 4], [0, 0], [5, 0]], [[6, 0], [0, 0], [0, 0]]])
    pooled = KMaxPooling(2)([values, ids]).numpy()
    np.testing.assert_array_equal(pooled[..., 0], [[1.0, 5.0], [2.0, 0.0]])


def test_segment_kmax_matches_sorting_each_segment():
    rng = np.random.default_rng(0)
    segments = np.sort(np.r_[rng.choice([0, 1, 4], size=40), 5, 6, 6])  # 2 and 3: empty
    values = rng.normal(size=(43, 3)).astype(np.float32)
    values[segments == 4] = values[segments == 4][0]  # ties: every value of segment 4 equal
    pooled = segment_kmax(tf.constant(values), tf.constant(segments), k=3).numpy()
    assert pooled.shape == (7, 3, 3)
    for segment, feature in np.ndindex(7, 3):
        column = values[segments == segment, feature]
        expected = column[np.sort(np.argsort(-column, kind="stable")[:3])]
        expected = np.pad(expected, (0, 3 - len(expected)))
        np.testing.assert_array_equal(pooled[segment, :, feature], expected)


def kim_reference(model, texts):
    """Kim CNN by hand: each review's own tokens, no padding, numpy convolutions."""
    ids = model.get_layer("vectorizer")(tf.constant(texts)).numpy()
    embedding = embedding_weights(model)
    convs = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.Conv1D)]
    dense = model.get_layer("probabilities")
    probs = []
    for row in ids:
        tokens = embedding[row[row != 0]]
        features = []
        for conv in convs:
            kernel, bias = conv.get_weights()
            width = kernel.shape[0]
            x = np.pad(tokens, [(0, max(width - len(tokens), 0)), (0, 0)])
            windows = [np.einsum("wd,wdf->f", x[t:t + width], kernel) + bias
                       for t in range(len(x) - width + 1)]
            features.append(np.maximum(np.max(windows, axis=0), 0))
        logits = np.concatenate(features) @ dense.get_weights()[0] + dense.get_weights()[1]
        probs.append(np.exp(logits) / np.exp(logits).sum())
    return np.array(probs)


def test_kim_cnn_convolves_each_review_on_its_own_tokens(vectorizer, matrix, imdb_small):
    model = kim_cnn(vectorizer, matrix, filters=8)
    texts = PROBE + ["Bad.", "so bad"] + imdb_small["test"].texts[:3]
    np.testing.assert_allclose(model(tf.constant(texts)), kim_reference(model, texts),
                               atol=1e-5)


def same_conv(x, conv):
    """numpy "same" convolution (zero padding, TF's split for even widths) and activation."""
    kernel, bias = conv.get_weights()
    width = kernel.shape[0]
    x = np.pad(x, [((width - 1) // 2, width // 2), (0, 0)])
    out = np.stack([np.einsum("wd,wdf->f", x[t:t + width], kernel) + bias
                    for t in range(len(x) - width + 1)])
    return np.maximum(out, 0) if conv.get_config()["activation"] == "relu" else out


def kmax(x, k):
    """The k largest of each column of x [steps, features] in their order, 0 if fewer."""
    top = np.sort(np.argsort(-x, axis=0, kind="stable")[:k], axis=0)
    return np.pad(np.take_along_axis(x, top, axis=0), [(0, k - min(k, len(x))), (0, 0)])


def denil_reference(model, texts, k=2):
    """Denil CNN by hand: each sentence convolved on its own words, no padding."""
    grid = model.get_layer("sentence_vectorizer")(tf.constant(texts)).numpy()
    embedding = embedding_weights(model)
    word_conv, sentence_conv = [layer for layer in model.layers
                                if isinstance(layer, tf_keras.layers.Conv1D)]
    dense = model.get_layer("probabilities")
    probs = []
    for sentences in grid:
        vectors = np.zeros((len(sentences), k * word_conv.filters), np.float32)
        for s, ids in enumerate(sentences):
            if ids.any():
                vectors[s] = kmax(same_conv(embedding[ids[ids != 0]], word_conv), k).ravel()
        present = sentences.any(axis=1)
        doc = same_conv(np.tanh(vectors), sentence_conv)[present]
        logits = np.tanh(kmax(doc, k).ravel()) @ dense.get_weights()[0] + dense.get_weights()[1]
        probs.append(np.exp(logits) / np.exp(logits).sum())
    return np.array(probs)


def test_denil_cnn_convolves_each_sentence_on_its_own_words(vectorizer, matrix, imdb_small):
    model = denil_cnn(vectorizer, matrix, max_sentences=6, words_per_sentence=12,
                      sentence_filters=8, document_filters=6)
    texts = PROBE + ["Bad.", "Great. Fun!"] + imdb_small["test"].texts[:3]
    np.testing.assert_allclose(model(tf.constant(texts)), denil_reference(model, texts),
                               atol=1e-5)


@pytest.mark.parametrize("name", BUILDERS)
def test_a_review_gets_the_same_probabilities_in_any_batch(name, vectorizer, matrix,
                                                            imdb_small):
    model = BUILDERS[name](vectorizer, matrix)
    texts = PROBE + imdb_small["test"].texts[:13]
    together = model(tf.constant(texts)).numpy()
    for i, text in enumerate(texts):
        np.testing.assert_allclose(model(tf.constant([text])).numpy()[0], together[i],
                                   atol=1e-6)


@pytest.mark.parametrize("name", BUILDERS)
def test_models_map_raw_strings_to_probabilities(name, vectorizer, matrix):
    model = BUILDERS[name](vectorizer, matrix)
    assert model.input.dtype == tf.string and model.input.shape.as_list() == [None]
    probs = model(tf.constant(PROBE)).numpy()
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(embedding_weights(model), matrix)
    assert model.get_layer("embedding").trainable


@pytest.mark.parametrize("name", BUILDERS)
def test_embedding_matrix_must_have_a_row_per_token(name, vectorizer, matrix):
    with pytest.raises(ValueError, match="one row per token"):
        BUILDERS[name](vectorizer, matrix[:-1])


@pytest.mark.parametrize("name", BUILDERS)
def test_models_survive_clone_and_config_round_trip(name, vectorizer, matrix):
    model = BUILDERS[name](vectorizer, matrix, num_classes=3)
    texts = tf.constant(PROBE)
    for copy in (tf_keras.models.clone_model(model),
                 tf_keras.Model.from_config(model.get_config())):
        copy.set_weights(model.get_weights())
        np.testing.assert_allclose(copy(texts), model(texts), atol=1e-6)


def test_kim_cnn_learns_the_training_reviews(trained, imdb_small):
    data = imdb_small["train"]
    probs = trained["kim"].predict(tf.constant(data.texts), batch_size=200, verbose=0)[:, 1]
    # Seen: accuracy 0.96-0.99, AUC 1.0 after 3 epochs (seeds 0-2); chance is 0.5.
    assert np.mean((probs > 0.5) == data.labels) > 0.8
    assert roc_auc_score(data.labels, probs) > 0.9


def test_denil_cnn_learns_to_rank_the_training_reviews(trained, imdb_small):
    data = imdb_small["train"]
    probs = trained["denil"].predict(tf.constant(data.texts), batch_size=200, verbose=0)[:, 1]
    # Seen: AUC 0.90-0.91 after 3 epochs (seeds 0-2); its 0.5-threshold accuracy still
    # swings (0.55-0.81) this early, so the ranking is what is checked.
    assert roc_auc_score(data.labels, probs) > 0.8


@pytest.mark.parametrize("name", BUILDERS)
def test_trainable_embeddings_are_tuned(name, trained, matrix):
    tuned = embedding_weights(trained[name])
    assert tuned.shape == matrix.shape
    changed = np.any(tuned != matrix, axis=1)
    assert changed[2:].mean() > 0.5  # most words of the 400 reviews were updated


@pytest.mark.parametrize("name", BUILDERS)
def test_frozen_embeddings_stay_unchanged(name, imdb_small, vectorizer, matrix):
    few = imdb_small["train"].fraction(0.1, seed=0)
    model = train(BUILDERS[name], vectorizer, matrix, few, epochs=1, trainable_embeddings=False)
    np.testing.assert_array_equal(embedding_weights(model), matrix)
    assert not model.get_layer("embedding").trainable_weights


def export(model, path):
    """SavedModel whose serving signature takes a batch of raw strings."""
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda texts: {"probabilities": model(texts, training=False)},
                               input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


FRESH_PYTHON = """
import json, sys
import tensorflow as tf
texts = tf.constant(json.loads(sys.argv[2]))
probs = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](texts)["probabilities"]
print(json.dumps({"probs": probs.numpy().tolist(), "tl_text": "tl_text" in sys.modules}))
"""


@pytest.mark.parametrize("name", BUILDERS)
def test_saved_model_takes_raw_strings_in_a_fresh_process(name, trained, imdb_small, tmp_path):
    model = trained[name]
    texts = PROBE + imdb_small["test"].texts[:5]
    expected = model.predict(tf.constant(texts), verbose=0)
    export(model, tmp_path / name)

    loaded = tf.saved_model.load(str(tmp_path / name))
    probs = loaded.signatures["serving_default"](tf.constant(texts))["probabilities"]
    np.testing.assert_allclose(probs, expected, atol=1e-5)

    run = subprocess.run([sys.executable, "-c", FRESH_PYTHON, str(tmp_path / name),
                          json.dumps(texts)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["tl_text"] is False
    np.testing.assert_allclose(answer["probs"], expected, atol=1e-5)


def test_fit_with_a_one_cycle_schedule(imdb_small, vectorizer, matrix):
    from tl_text.training import fit
    from tl_text.training.schedules import OneCycle

    model = kim_cnn(vectorizer, matrix)
    result = fit(model, imdb_small["train"], epochs=2, batch_size=100, learning_rate=1e-2,
                 schedule="onecycle", verbose=0)
    assert len(result.history["loss"]) == 2 and int(model.optimizer.iterations) == 8
    # the rate of the last of 8 steps (400 reviews / 100 x 2 epochs) of a cycle peaking at 1e-2
    assert float(model.optimizer.learning_rate) == pytest.approx(float(OneCycle(1e-2, 8)(7)))
    assert float(OneCycle(1e-2, 8)(7)) == pytest.approx(1.5e-3, rel=1e-3)


def test_early_stopping_waits_for_min_epochs_but_keeps_the_best_epoch():
    from tl_text.training.keras_fit import EarlyStopping

    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(2,))])
    stopper = EarlyStopping(3, monitor="val_loss", patience=1, restore_best_weights=True)
    stopper.set_model(model)
    stopper.on_train_begin()
    stopped = []
    for epoch, loss in enumerate([0.5, 0.9, 0.8, 0.7]):
        model.stop_training = False
        stopper.on_epoch_end(epoch, {"val_loss": loss})
        stopped.append(model.stop_training)
    assert stopped == [False, False, True, True] and stopper.best_epoch == 0


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv1d_as_conv2d_matches_conv1d_on_real_text(padding, vectorizer, matrix, imdb_small):
    vectors = tf.gather(matrix, vectorizer(tf.constant(imdb_small["test"].texts[:64])))
    conv1d = tf_keras.layers.Conv1D(100, 5, padding=padding, activation="relu")
    expected = conv1d(vectors)
    conv2d = Conv1DAsConv2D.from_config(conv1d.get_config())
    conv2d.build(vectors.shape)
    conv2d.set_weights(conv1d.get_weights())  # a Conv1D kernel [w, d, f] as it is
    np.testing.assert_allclose(conv2d(vectors).numpy(), expected.numpy(), atol=1e-5)


def test_kim_padded_formulation_gives_the_packed_outputs_from_the_same_weights(
        trained, vectorizer, matrix, imdb):
    from tl_text.models.precision import policy

    texts = PROBE + ["Bad.", "so bad", "a b c d"] + imdb["test"].texts[:2000]
    packed = trained["kim"]
    padded = kim_cnn(vectorizer, matrix, formulation="padded")
    padded.set_weights(packed.get_weights())
    expected = packed.predict(tf.constant(texts), batch_size=500, verbose=0)
    probs = padded.predict(tf.constant(texts), batch_size=500, verbose=0)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_allclose(padded(tf.constant(texts[:3])), kim_reference(padded, texts[:3]),
                               atol=1e-5)
    with policy("bfloat16"):
        in_bfloat16 = kim_cnn(vectorizer, matrix)
    assert any(isinstance(layer, MaxOverTimeConv) for layer in in_bfloat16.layers)
    in_bfloat16.set_weights(packed.get_weights())
    np.testing.assert_allclose(in_bfloat16.predict(tf.constant(texts), batch_size=500,
                                                   verbose=0), expected, atol=0.02)
    with pytest.raises(ValueError, match="formulation"):
        kim_cnn(vectorizer, matrix, formulation="ragged")


@pytest.mark.parametrize("formulation", ["packed", "padded"])
def test_kim_padded_per_batch_gives_the_outputs_padded_to_the_sequence_length(
        formulation, trained, vectorizer, matrix, imdb):
    texts = PROBE + ["Bad.", "so bad", "a b c d"] + imdb["test"].texts[:1000]
    texts = sorted(texts, key=len)  # batches of short reviews, long ones, and at the cap
    full = kim_cnn(vectorizer, matrix, formulation=formulation, trim_padding=False)
    per_batch = kim_cnn(vectorizer, matrix, formulation=formulation)
    trim = next(layer for layer in per_batch.layers if isinstance(layer, TrimPadding))
    for model in (full, per_batch):
        model.set_weights(trained["kim"].get_weights())
    expected = full.predict(tf.constant(texts), batch_size=128, verbose=0)
    probs = per_batch.predict(tf.constant(texts), batch_size=128, verbose=0)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-6)
    lengths = [trim(vectorizer(tf.constant(texts[i:i + 128]))).shape[1]
               for i in (0, 128, len(texts) - 128)]
    assert lengths[0] < lengths[1] < lengths[2] == 400
