"""NB-LR as a TensorFlow graph (tl_text.classifiers.linear) vs. scikit-learn (models.linear).

    TL_TEXT_DATA=../shared/data python benchmarks/bench_linear.py --out results/linear.json

1. Accuracy on the 25,000 IMDB test reviews after training on each of `--fractions` of the
   training set (stratified, `--seed`), with how often the two agree, their largest
   probability difference and their fit times (both solvers with single-threaded BLAS, see
   tl_text.training.logistic). scikit-learn's solver stops at its default tol=1e-4, short of
   the optimum that the TF model's solver reaches, so the scikit-learn model solved to
   tol=1e-8 ("converged") is compared as well.
2. Throughput over the 25,000 test reviews, median of `--repeats` runs each, in one process:
   the TF model trained on the last fraction, exported and loaded back as a SavedModel
   (`load_exported(path).signature(text=...)` in batches of `--batch-size`), against the
   scikit-learn model's predict_proba on the whole list.

Prints Markdown tables and writes everything as JSON to `--out`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(run):
    """(run(), seconds)."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def compare_accuracy(imdb, fraction: float, seed: int):
    """The fitted (TF, scikit-learn) models and a result row for `fraction`."""
    from threadpoolctl import threadpool_limits

    from tl_text.classifiers.linear import NBLogisticRegression
    from tl_text.models import linear

    train, test = imdb["train"].fraction(fraction, seed=seed), imdb["test"]
    ours, ours_fit = timed(lambda: NBLogisticRegression().fit(train))
    with threadpool_limits(limits=1, user_api="blas"):
        reference, reference_fit = timed(
            lambda: linear.NBLogisticRegression().fit(train.texts, train.labels))
        converged = converged_copy(reference, train)
    ours_p = ours.predict_proba(test.texts)
    row = {"fraction": fraction, "train_docs": len(train), "features": len(ours.vocabulary_),
           "accuracy_tf": accuracy(ours_p, test.labels),
           "fit_seconds_tf": round(ours_fit, 1), "fit_seconds_sklearn": round(reference_fit, 1)}
    for name, model in (("sklearn", reference), ("sklearn_converged", converged)):
        p = model.predict_proba(test.texts)
        row.update({f"accuracy_{name}": accuracy(p, test.labels),
                    f"agreement_{name}": float((ours_p.argmax(1) == p.argmax(1)).mean()),
                    f"max_probability_difference_{name}": float(np.abs(ours_p - p).max())})
    return ours, reference, row


def converged_copy(reference, train):
    """`reference` with its logistic regression solved to tol 1e-8 instead of 1e-4."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    converged = copy.copy(reference)
    features = reference.vectorizer_.transform(train.texts) @ sparse.diags(reference.ratio_)
    converged.classifier_ = LogisticRegression(C=reference.C, tol=1e-8, max_iter=20_000).fit(
        features, train.labels)
    return converged


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())


def docs_per_second(predict, texts: list[str], repeats: int) -> tuple[float, list[float]]:
    """(median docs/s, every run's), after a warm-up call."""
    predict(texts[:64])
    rates = []
    for _ in range(repeats):
        _, seconds = timed(lambda: predict(texts))
        rates.append(len(texts) / seconds)
    return statistics.median(rates), rates


def compare_throughput(ours, reference, texts: list[str], batch_size: int, repeats: int):
    import tensorflow as tf

    from tl_text.export import load_exported

    with tempfile.TemporaryDirectory() as tmp:
        path = ours.export(Path(tmp) / "nb-lr")
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        serve = load_exported(path).signature

        def saved_model(batch_texts: list[str]) -> np.ndarray:
            return np.concatenate([
                serve(text=tf.constant(batch_texts[i:i + batch_size]))["probabilities"].numpy()
                for i in range(0, len(batch_texts), batch_size)])

        saved, saved_runs = docs_per_second(saved_model, texts, repeats)
        difference = float(np.abs(saved_model(texts) - ours.predict_proba(texts)).max())
    sklearn, sklearn_runs = docs_per_second(reference.predict_proba, texts, repeats)
    return {"docs": len(texts), "batch_size": batch_size, "export_mb": round(size / 1e6, 1),
            "savedmodel_docs_per_second": round(saved), "sklearn_docs_per_second": round(sklearn),
            "savedmodel_runs": [round(r) for r in saved_runs],
            "sklearn_runs": [round(r) for r in sklearn_runs],
            "max_difference_savedmodel_vs_in_memory": difference}


def print_tables(rows: list[dict], speed: dict) -> None:
    print("| train fraction | train docs | n-grams | accuracy: TF NB-LR | sklearn NB-LR | "
          "sklearn, converged | same label as sklearn (converged) | max abs prob. diff. "
          "(converged) | fit s: TF / sklearn |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['fraction']:g} | {r['train_docs']:,} | {r['features']:,} | "
              f"{r['accuracy_tf']:.4f} | {r['accuracy_sklearn']:.4f} | "
              f"{r['accuracy_sklearn_converged']:.4f} | {r['agreement_sklearn']:.4f} "
              f"({r['agreement_sklearn_converged']:.4f}) | "
              f"{r['max_probability_difference_sklearn']:.1e} "
              f"({r['max_probability_difference_sklearn_converged']:.1e}) | "
              f"{r['fit_seconds_tf']} / {r['fit_seconds_sklearn']} |")
    print()
    print(f"| scoring {speed['docs']:,} test reviews | docs/s (median) | runs |")
    print("|---|---|---|")
    print(f"| TF SavedModel, batches of {speed['batch_size']:,} | "
          f"{speed['savedmodel_docs_per_second']:,} | "
          f"{', '.join(f'{r:,}' for r in speed['savedmodel_runs'])} |")
    print(f"| scikit-learn predict_proba | {speed['sklearn_docs_per_second']:,} | "
          f"{', '.join(f'{r:,}' for r in speed['sklearn_runs'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--fractions", type=lambda s: [float(v) for v in s.split(",")],
                        default=[0.05, 1.0], help="training fractions, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True, help="JSON results file")
    args = parser.parse_args()

    import tensorflow as tf

    from tl_text.data import load_imdb

    imdb = load_imdb(("train", "test"), data_dir=args.data_dir)
    rows = []
    for fraction in args.fractions:
        ours, reference, row = compare_accuracy(imdb, fraction, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    speed = compare_throughput(ours, reference, imdb["test"].texts, args.batch_size,
                               args.repeats)
    print_tables(rows, speed)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "tensorflow": tf.__version__, "load_average": os.getloadavg()}
    Path(args.out).write_text(json.dumps({"accuracy": rows, "throughput": speed,
                                          "machine": machine}, indent=2) + "\n")


if __name__ == "__main__":
    main()
