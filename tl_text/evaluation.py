"""Evaluate an exported classifier on a labelled dataset: metrics, a text summary, files."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tl_text.atomic import atomic_write
from tl_text.errors import ConfigError

RESULT_FILE = "evaluation.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"


def classification_metrics(labels: np.ndarray, predicted: np.ndarray,
                           label_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision / recall / F1 / support and the confusion matrix
    (rows: true class, columns: predicted) of integer class ids, as plain JSON types.

    A class never predicted has precision 0, one without documents recall 0 (scikit-learn's
    zero_division=0). Macro-F1 averages the classes that occur in `labels` or `predicted`,
    as scikit-learn does when not given the labels.
    """
    names = [str(name) for name in label_names]
    classes = len(names)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if labels.shape != predicted.shape or labels.ndim != 1 or not labels.size:
        raise ValueError(f"need two equally long, non-empty lists of class ids, got shapes "
                         f"{labels.shape} and {predicted.shape}")
    for what, ids in (("labels", labels), ("predicted", predicted)):
        if ids.min() < 0 or ids.max() >= classes:
            raise ValueError(f"{what} holds class ids outside 0..{classes - 1} ({names})")
    matrix = np.bincount(labels * classes + predicted,
                         minlength=classes * classes).reshape(classes, classes)
    correct = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    precision = _ratio(correct, predicted_count)
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    seen = (support > 0) | (predicted_count > 0)
    return {
        "accuracy": float(correct.sum() / labels.size),
        "macro_f1": float(f1[seen].mean()),
        "label_names": names,
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion_matrix": matrix.tolist(),
    }


def evaluate(model, dataset, batch_size: int = 256) -> dict:
    """Score `model` (an `ExportedModel`, or anything with `predict_columns` and
    `label_names`) on `dataset`, a labelled `TextDataset`.

    Dataset labels are matched to the model's by name, so the class orders may differ; the
    metrics follow the model's order. Returns {"model", "data", "documents",
    "docs_per_second"} and `classification_metrics`'s keys.
    """
    model_labels = [str(name) for name in model.label_names]
    unknown = [name for name in dataset.label_names if name not in model_labels]
    if unknown:
        raise ConfigError(f"the model does not know the label(s) {unknown} of {dataset.name}: "
                          f"the data has labels {list(dataset.label_names)}, the model "
                          f"{model_labels}")
    if not len(dataset):
        raise ConfigError(f"{dataset.name} has no documents to evaluate on")
    unlabelled = int((dataset.labels < 0).sum())
    if unlabelled:
        raise ConfigError(f"{unlabelled} of the {len(dataset):,} documents of {dataset.name} "
                          f"are unlabelled: evaluation needs labelled documents")
    to_model_id = np.array([model_labels.index(name) for name in dataset.label_names])
    start = time.perf_counter()
    predicted = model.predict_columns(dataset.texts, batch_size)["label_id"]
    seconds = time.perf_counter() - start
    return {"model": str(getattr(model, "path", model)), "data": dataset.name,
            "documents": len(dataset), "docs_per_second": len(dataset) / max(seconds, 1e-9),
            **classification_metrics(to_model_id[dataset.labels], predicted, model_labels)}


def format_evaluation(result: dict) -> str:
    """A one-screen summary of an `evaluate` result: scores, per-class table, confusion
    matrix."""
    names = result["label_names"]
    width = max(len("class"), *(len(name) for name in names))
    lines = [f"model     {result['model']}",
             (f"data      {result['data']} ({result['documents']:,} documents, "
              f"{result['docs_per_second']:,.0f} docs/s)"),
             f"accuracy  {result['accuracy']:.4f}",
             f"macro-F1  {result['macro_f1']:.4f}",
             "",
             f"{'class':<{width}}  precision  recall      F1  support"]
    for name, scores in result["per_class"].items():
        lines.append(f"{name:<{width}}  {scores['precision']:9.4f}  {scores['recall']:6.4f}"
                     f"  {scores['f1']:6.4f}  {scores['support']:7,}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              *_matrix_table(result["confusion_matrix"], names)]
    return "\n".join(lines)


def write_evaluation(result: dict, out_dir: str | Path) -> list[Path]:
    """Write `evaluation.json` and `confusion_matrix.png` atomically into `out_dir` (created
    if missing); returns their paths."""
    from tl_text.plots import confusion_matrix_png

    out_dir = Path(out_dir)
    title = (f"{result['data']}: accuracy {result['accuracy']:.3f}, "
             f"macro-F1 {result['macro_f1']:.3f}")
    png = confusion_matrix_png(result["confusion_matrix"], result["label_names"], title)
    return [atomic_write(out_dir / RESULT_FILE,
                         (json.dumps(result, indent=2) + "\n").encode("utf-8")),
            atomic_write(out_dir / CONFUSION_MATRIX_FILE, png)]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(len(denominator)),
                     where=denominator > 0)


def _matrix_table(matrix: list[list[int]], names: list[str]) -> list[str]:
    """The matrix as aligned text, columns headed by the class names, or by the class numbers
    shown before the row names when the names would make it wider than 100 characters."""
    cells = [[f"{count:,}" for count in row] for row in matrix]
    number = max(len(cell) for row in cells for cell in row)
    headers = names
    if len(names) * (max(number, *map(len, names)) + 2) + max(map(len, names)) > 100:
        headers = [str(i) for i in range(1, len(names) + 1)]
        names = [f"{header:>{len(headers[-1])}} {name}" for header, name in zip(headers, names)]
    rows = max(map(len, names))
    column = max(number, *map(len, headers))
    table = [" " * rows + "".join(f"  {header:>{column}}" for header in headers)]
    table += [f"{name:<{rows}}" + "".join(f"  {cell:>{column}}" for cell in row)
              for name, row in zip(names, cells)]
    return table
