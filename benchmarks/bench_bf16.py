"""bfloat16 against float32 serving of an exported CNN on the 25,000 IMDB test reviews (#17).

    TL_TEXT_DATA=../shared/data python benchmarks/bench_bf16.py          # Kim and Denil, 20 % slice
    TL_TEXT_DATA=../shared/data python benchmarks/bench_bf16.py --models kim saved_models/x/1
    TL_TEXT_DATA=../shared/data python benchmarks/bench_bf16.py --models kim --order length

Each of `--models` (a saved CNN classifier, or "kim" / "denil": a float32 CNN trained here on
a stratified `--train-fraction` of the IMDB train reviews, GloVe 6B-50d) is exported twice
with the same weights, in float32 and in bfloat16 (`CNNClassifier.with_precision`; Kim's
bfloat16 network is its "padded" formulation). A Kim CNN is exported twice more, padding
every batch to `sequence_length` (400) instead of to its longest review (`kim_cnn`'s
`trim_padding=False`, the layout before). In one process, for each model, it reports:

1. docs/s of each export's serving signature over the test reviews, batches of
   `--batch-size` in each `--order` ("file": the reviews as stored; "length": sorted by
   length, as `predict_proba`, `ExportedModel.predict` and `tl-text predict --file` batch
   them), median of `--repeats` passes, the exports taking turns;
2. full-test accuracy of each export and its largest probability difference to the first
   (float32, padded per batch);
3. docs/s of the in-graph tokenisation alone, step by step (lower-casing, the
   break/punctuation pass, `standardize`, the whitespace split, the whole vectoriser: lookup
   and padding included);
4. with `--onednn-verbose`: the distinct oneDNN convolution and matmul kernels that one batch
   of the bfloat16 export runs (ONEDNN_VERBOSE=1, in a subprocess).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ONEDNN = """
import sys, tensorflow as tf
from tl_text.data import load_imdb
from tl_text.export import load_exported
texts = load_imdb(("test",), data_dir=sys.argv[2] or None)["test"].texts[:256]
load_exported(sys.argv[1]).signature(text=tf.constant(texts))
"""


def passes(function, batches: list, repeats: int) -> list[float]:
    """Seconds of each of `repeats` passes of `function` over `batches` (after a warm-up)."""
    function(batches[0])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            function(batch)
        seconds.append(time.perf_counter() - start)
    return seconds


def train(architecture: str, fraction: float, data_dir: str | None):
    from tl_text.classifiers import CNNClassifier
    from tl_text.data import load_imdb

    train = load_imdb(("train",), data_dir=data_dir)["train"].fraction(fraction, seed=0)
    print(f"training a float32 {architecture} CNN on {len(train):,} IMDB train reviews",
          flush=True)
    return CNNClassifier(architecture, epochs=6, min_epochs=2).fit(train)


def tokenisation_steps(vectorizer) -> dict:
    import tensorflow as tf

    from tl_text.models import standardize
    from tl_text.models.text import _BREAK, _PUNCTUATION

    return {"tf.strings.lower": tf.strings.lower,
            "+ break/punctuation passes": lambda t: tf.strings.regex_replace(
                tf.strings.regex_replace(tf.strings.lower(t), _BREAK, " "), _PUNCTUATION,
                r" \1 "),
            "+ apostrophe passes = standardize": standardize,
            "+ whitespace split": lambda t: tf.strings.split(standardize(t)),
            "whole vectoriser (+ lookup, padding)": vectorizer}


def onednn_kernels(path: str, data_dir: str | None) -> list[str]:
    """The distinct `onednn_verbose,...,exec,cpu,<primitive>,<implementation>,...,<types>`
    lines of convolutions and matmuls that one batch of the export runs."""
    environment = {**os.environ, "ONEDNN_VERBOSE": "1"}
    output = subprocess.run([sys.executable, "-c", ONEDNN, path, data_dir or ""],
                            env=environment, capture_output=True, text=True, check=True).stdout
    kernels = set()
    for line in output.splitlines():
        fields = line.split(",")
        if "exec" in fields and any(p in line for p in ("convolution", "matmul", "inner_product")):
            at = fields.index("exec")
            kernels.add(",".join(fields[at + 2:at + 6]))
    return sorted(kernels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--models", nargs="+", default=["kim", "denil"],
                        help='saved CNN classifiers, or "kim" / "denil" to train one here')
    parser.add_argument("--train-fraction", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, help="score only the first N test reviews")
    parser.add_argument("--order", nargs="+", choices=("file", "length"),
                        default=["file", "length"], help="batch order(s) to time")
    parser.add_argument("--onednn-verbose", action="store_true")
    args = parser.parse_args()

    from tl_text.data import load_imdb

    test = load_imdb(("test",), data_dir=args.data_dir)["test"]
    texts, labels = test.texts[:args.limit], np.asarray(test.labels[:args.limit])
    for model in args.models:
        benchmark(model, texts, labels, args)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def exports_to_time(classifier, folder: str) -> dict:
    """{(precision, padding): export folder}: float32 and bfloat16, and for a Kim CNN each
    padded per batch and to `sequence_length`, all with the classifier's weights."""
    from tl_text.export import export_model
    from tl_text.models import kim_cnn, vectorizer_from_vocabulary
    from tl_text.models.precision import policy

    kim = classifier.architecture == "kim"
    exports = {}
    for precision in ("float32", "bfloat16"):
        exports[precision, "per batch" if kim else "sentence grid"] = (
            classifier.with_precision(precision).export(f"{folder}/{precision}"))
    if not kim or classifier.tokens != "words":
        return exports
    matrix = np.zeros(classifier.model_.get_layer("embedding").get_weights()[0].shape,
                      np.float32)
    for precision in ("float32", "bfloat16"):
        with policy(precision):
            model = kim_cnn(vectorizer_from_vocabulary(classifier.vocabulary_,
                                                       classifier.sequence_length),
                            matrix, len(classifier.label_names_), trim_padding=False)
        model.set_weights(classifier.model_.get_weights())
        exports[precision, "fixed"] = export_model(model, f"{folder}/{precision}-fixed",
                                                   label_names=classifier.label_names_)
    return exports


def benchmark(model: str, texts: list[str], labels: np.ndarray, args) -> None:
    import tensorflow as tf

    from tl_text.classifiers import load_classifier
    from tl_text.export import load_exported

    classifier = (train(model, args.train_fraction, args.data_dir) if model in ("kim", "denil")
                  else load_classifier(model))
    print(f"\n## {classifier.architecture} CNN ({model}); {len(texts):,} test reviews, "
          f"batches of {args.batch_size}; load average {os.getloadavg()[0]:.2f}")
    by_length = np.argsort([len(text) for text in texts], kind="stable")
    orders = {"file": np.arange(len(texts)), "length": by_length}
    with tempfile.TemporaryDirectory() as tmp:
        exports = {key: (folder, load_exported(folder).signature)
                   for key, folder in exports_to_time(classifier, tmp).items()}
        for order in args.order:
            ordered = [texts[i] for i in orders[order]]
            batches = [tf.constant(ordered[i:i + args.batch_size])
                       for i in range(0, len(texts), args.batch_size)]
            seconds = {key: [] for key in exports}
            for _ in range(args.repeats):  # the exports take turns
                for key, (_, signature) in exports.items():
                    seconds[key] += passes(lambda b: signature(text=b), batches, 1)
            probabilities = {
                key: np.concatenate([s(text=b)["probabilities"].numpy() for b in batches])
                for key, (_, s) in exports.items()}
            first = next(iter(probabilities.values()))
            print(f"\nbatches in {order} order; load average {os.getloadavg()[0]:.2f}")
            print("| precision | padding | docs/s (median) | passes (s) | accuracy | "
                  "max \\|Δp\\| to the first |\n|---|---|---|---|---|---|")
            for (precision, padding), runs in seconds.items():
                found = probabilities[precision, padding]
                accuracy = (found.argmax(axis=1) == labels[orders[order]]).mean()
                print(f"| {precision} | {padding} | "
                      f"{len(texts) / statistics.median(runs):,.0f} | "
                      f"{', '.join(f'{s:.1f}' for s in runs)} | {100 * accuracy:.2f} | "
                      f"{np.abs(found - first).max():.2g} |")

        batches = [tf.constant(texts[i:i + args.batch_size])
                   for i in range(0, len(texts), args.batch_size)]
        layer = "vectorizer" if classifier.architecture == "kim" else "sentence_vectorizer"
        vectorizer = classifier.model_.get_layer(layer)
        print("| tokenisation step (cumulative) | docs/s (median) |\n|---|---|")
        for name, step in tokenisation_steps(vectorizer).items():
            function = tf.function(step, input_signature=[tf.TensorSpec([None], tf.string)])
            runs = passes(function, batches, args.repeats)
            print(f"| {name} | {len(texts) / statistics.median(runs):,.0f} |")
        if args.onednn_verbose:
            print("oneDNN kernels of the bfloat16 export (primitive, implementation, "
                  "propagation, data types):")
            folder = next(f for (p, _), (f, _) in exports.items() if p == "bfloat16")
            for kernel in onednn_kernels(str(folder), args.data_dir):
                print(f"  {kernel}")


if __name__ == "__main__":
    main()
