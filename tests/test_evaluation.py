"""Evaluation of exported classifiers: metrics against scikit-learn, label matching, outputs."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from tl_text.data import TextDataset
from tl_text.errors import ConfigError
from tl_text.evaluation import (
    classification_metrics,
    evaluate,
    format_evaluation,
    write_evaluation,
)
from tl_text.plots import confusion_matrix_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _random_case(classes, size, seed, never_predicted=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size)
    predicted = np.where(rng.random(size) < 0.6, labels, rng.integers(0, classes, size))
    if never_predicted is not None:
        predicted[predicted == never_predicted] = (never_predicted + 1) % classes
    return labels, predicted


@pytest.mark.parametrize("labels, predicted, classes", [
    ([0, 1, 1, 0, 1], [0, 1, 0, 0, 1], 2),
    (*_random_case(5, 300, seed=1), 5),
    (*_random_case(5, 300, seed=2, never_predicted=3), 5),
    ([0, 0, 2, 2, 1], [0, 0, 2, 0, 0], 3),  # class 1 has support but is never predicted
], ids=["binary", "five-classes", "five-classes-one-never-predicted", "three-classes"])
def test_metrics_match_scikit_learn(labels, predicted, classes):
    names = [f"class{i}" for i in range(classes)]
    metrics = classification_metrics(np.asarray(labels), np.asarray(predicted), names)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(labels, predicted, average="macro", zero_division=0))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(classes), zero_division=0)
    per_class = metrics["per_class"]
    assert list(per_class) == names == metrics["label_names"]
    assert [per_class[n]["precision"] for n in names] == pytest.approx(precision)
    assert [per_class[n]["recall"] for n in names] == pytest.approx(recall)
    assert [per_class[n]["f1"] for n in names] == pytest.approx(f1)
    assert [per_class[n]["support"] for n in names] == support.tolist()
    assert metrics["confusion_matrix"] == confusion_matrix(
        labels, predicted, labels=range(classes)).tolist()
    assert json.loads(json.dumps(metrics)) == metrics


def test_never_predicted_class_has_precision_zero():
    metrics = classification_metrics(np.array([0, 1, 2]), np.array([0, 0, 2]), ["a", "b", "c"])
    assert metrics["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 1}
    assert metrics["per_class"]["a"]["precision"] == 0.5


def test_macro_f1_skips_classes_absent_from_labels_and_predictions():
    labels, predicted = np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2])
    metrics = classification_metrics(labels, predicted, ["a", "b", "c"])
    assert metrics["per_class"]["b"]["support"] == 0
    assert metrics["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


@pytest.mark.parametrize("labels, predicted, message", [
    ([0, 1], [0], "equally long"),
    ([], [], "non-empty"),
    ([0, 2], [0, 1], r"labels holds class ids outside 0\.\.1"),
    ([0, 1], [0, -1], r"predicted holds class ids outside 0\.\.1"),
])
def test_metrics_reject_bad_ids(labels, predicted, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(labels), np.array(predicted), ["neg", "pos"])


class FakeModel:
    """Answers from a {text: label name} table, in its own class order."""

    def __init__(self, label_names, answers):
        self.label_names, self.answers, self.path = label_names, answers, Path("models/fake/1")

    def predict_columns(self, texts, batch_size=256):
        labels = [self.answers[text] for text in texts]
        return {"label": labels, "label_id": [self.label_names.index(lb) for lb in labels]}


def _dataset(label_names=("neg", "pos"), labels=(0, 1, 1, 0)):
    texts = [f"review {i}" for i in range(len(labels))]
    return TextDataset("reviews", [str(i) for i in range(len(labels))], texts,
                       np.array(labels), label_names)


def test_evaluate_matches_labels_by_name():
    dataset = _dataset()  # neg, pos, pos, neg
    model = FakeModel(["pos", "neg", "neutral"], {"review 0": "neg", "review 1": "pos",
                                                  "review 2": "neg", "review 3": "neutral"})
    result = evaluate(model, dataset)
    assert result["model"] == str(Path("models/fake/1")) and result["data"] == "reviews"
    assert result["documents"] == 4 and result["docs_per_second"] > 0
    assert result["label_names"] == ["pos", "neg", "neutral"]
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert result["accuracy"] == 0.5
    assert result["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                              "support": 0}


def test_evaluate_rejects_labels_the_model_does_not_know():
    model = FakeModel(["negative", "positive"], {})
    message = (r"does not know the label\(s\) \['neg', 'pos'\] of reviews: the data has labels "
               r"\['neg', 'pos'\], the model \['negative', 'positive'\]")
    with pytest.raises(ConfigError, match=message):
        evaluate(model, _dataset())


def test_evaluate_rejects_unlabelled_documents():
    with pytest.raises(ConfigError, match="1 of the 2 documents of reviews are unlabelled"):
        evaluate(FakeModel(["neg", "pos"], {}), _dataset(labels=(0, -1)))


def _result(classes=3):
    names = [f"label-{i}" for i in range(classes)]
    labels, predicted = _random_case(classes, 200, seed=classes)
    return {"model": "models/m/1", "data": "test", "documents": 200, "docs_per_second": 1234.5,
            **classification_metrics(labels, predicted, names)}


@pytest.mark.parametrize("classes", [2, 5, 10])
def test_format_evaluation_mentions_every_class(classes):
    result = _result(classes)
    text = format_evaluation(result)
    assert f"accuracy  {result['accuracy']:.4f}" in text and "macro-F1" in text
    assert "1,234 docs/s" in text
    for name in result["label_names"]:
        assert text.count(name) >= 2  # per-class table and confusion matrix
    matrix = text.split("confusion matrix (rows: true, columns: predicted)\n")[1].splitlines()
    assert len(matrix) == classes + 1 and len({len(line) for line in matrix}) == 1
    assert max(len(line) for line in text.splitlines()) <= 100


def test_format_evaluation_numbers_columns_of_long_names():
    result = _result(8)
    result["label_names"] = names = [f"a rather long class name {i}" for i in range(8)]
    result["per_class"] = dict(zip(names, result["per_class"].values()))
    matrix = format_evaluation(result).split("predicted)\n")[1].splitlines()
    assert matrix[0].split() == [str(i) for i in range(1, 9)]
    assert matrix[1].startswith("1 a rather long class name 0")
    assert max(len(line) for line in matrix) <= 100


@pytest.mark.parametrize("classes", [2, 10])
def test_confusion_matrix_png(classes):
    result = _result(classes)
    png = confusion_matrix_png(result["confusion_matrix"], result["label_names"], "title")
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000


def test_confusion_matrix_png_checks_the_shape():
    with pytest.raises(ValueError, match="must be 3x3"):
        confusion_matrix_png([[1, 2], [3, 4]], ["a", "b", "c"], "")


def test_write_evaluation(tmp_path):
    result = _result()
    out = tmp_path / "new" / "folder"
    paths = write_evaluation(result, out)
    assert paths == [out / "evaluation.json", out / "confusion_matrix.png"]
    assert json.loads(paths[0].read_text()) == result
    assert paths[1].read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "evaluation.json"]


def test_evaluate_an_exported_model(tmp_path):
    import tensorflow as tf
    import tf_keras

    from tl_text.export.savedmodel import export_model, load_exported

    texts = ["great film", "loved it", "boring film", "hated it", "so so film", "it was ok"]
    names = ("pos", "neg", "meh")
    tf_keras.utils.set_random_seed(0)
    vectorize = tf_keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(texts)
    inputs = tf_keras.Input(shape=(), dtype=tf.string, name="text")
    embedded = tf_keras.layers.Embedding(20, 8)(vectorize(inputs))
    pooled = tf_keras.layers.GlobalAveragePooling1D()(embedded)
    outputs = tf_keras.layers.Dense(3, activation="softmax")(pooled)
    model = tf_keras.Model(inputs, outputs, name="tiny")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(tf.constant(texts), np.array([0, 0, 1, 1, 2, 2]), epochs=2, verbose=0)
    export_model(model, tmp_path / "m", label_names=names)

    exported = load_exported(tmp_path / "m")
    # the data's class order differs from the model's
    dataset = TextDataset("inline", [str(i) for i in range(6)], texts,
                          np.array([2, 2, 1, 1, 0, 0]), ("meh", "neg", "pos"))
    result = evaluate(exported, dataset, batch_size=4)
    predicted = [names.index(label) for label in exported.predict_columns(texts)["label"]]
    assert result == {**result, **classification_metrics(np.array([0, 0, 1, 1, 2, 2]),
                                                         np.array(predicted), names)}
    assert result["model"] == str(tmp_path / "m" / "1") and result["documents"] == 6
    assert sum(map(sum, result["confusion_matrix"])) == 6
    write_evaluation(result, tmp_path / "eval")
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text()) == result
