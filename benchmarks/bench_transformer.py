"""Fine-tuning seconds per epoch (float32, bucketed, bfloat16) and exported docs/s and accuracy
(SavedModel float32 vs TFLite int8) of a transformer classifier on IMDB.

    python benchmarks/bench_transformer.py --data-dir ../shared/data --fraction 0.05

1. Wordpiece lengths of the training documents, and the padded tokens per epoch with fixed
   `max_length` padding, random batches padded to their longest, and length-bucketed batches.
2. One native-trainer epoch each: float32 with random batches (the former loop), float32
   bucketed, bfloat16 bucketed.
3. The float32 bucketed classifier exported as a SavedModel and as an int8 TFLite model:
   docs/s (median of `--repeats` runs on the first `--speed-docs` documents of the scored
   test slice) and accuracy on a stratified `--test-fraction` of the test set.
Every figure is printed with the load average, because this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

import tl_text  # noqa: F401  (Keras 2, before TensorFlow loads)
from tl_text.data import load_imdb
from tl_text.export import export_model, load_exported
from tl_text.export.tflite import export_tflite, load_tflite
from tl_text.models import TransformerClassifier
from tl_text.models.precision import policy
from tl_text.training import fit_transformer
from tl_text.training.transformer_fit import token_batches


def padded_tokens(classifier, train, batch_size: int, bucket: bool) -> int:
    """Token positions (padding included) one shuffled epoch feeds the model."""
    return sum(int(inputs["input_ids"].numpy().size) for inputs, _ in token_batches(
        classifier, train, batch_size, shuffle_seed=0, bucket_by_length=bucket))


def docs_per_second(predict, texts, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(texts)
        times.append(time.perf_counter() - start)
    return len(texts) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--pretrained", default="minilm")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--test-fraction", type=float, default=0.04,
                        help="stratified share of the 25,000 test reviews scored for accuracy")
    parser.add_argument("--speed-docs", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--runs", default="float32-random,float32-bucketed,bfloat16-bucketed")
    args = parser.parse_args()

    imdb = load_imdb(("train", "test"), data_dir=args.data_dir)
    train = imdb["train"].fraction(args.fraction, seed=0)
    test = imdb["test"].fraction(args.test_fraction, seed=0)
    results = {"documents": len(train), "test_documents": len(test),
               "max_length": args.max_length, "batch_size": args.batch_size}

    def report(key, value):
        results[key] = value
        results[f"{key}_load_average"] = round(os.getloadavg()[0], 2)
        print(json.dumps({key: value, "load_average": results[f"{key}_load_average"]}),
              flush=True)

    def network(precision="float32"):
        with policy(precision):
            return TransformerClassifier.from_pretrained(args.pretrained, train.label_names,
                                                         args.max_length, "head+tail")

    classifier = network()
    lengths = np.array([len(row) for row in classifier.token_ids(train.texts)])
    report("train_wordpieces_percentiles_10_25_50_75_90",
           np.percentile(lengths, [10, 25, 50, 75, 90]).tolist())
    report("train_share_at_max_length", round(float((lengths == args.max_length).mean()), 3))
    report("tokens_per_epoch_fixed_padding", len(train) * args.max_length)
    report("tokens_per_epoch_random_batches", padded_tokens(classifier, train,
                                                            args.batch_size, False))
    report("tokens_per_epoch_bucketed", padded_tokens(classifier, train, args.batch_size, True))
    report("tokens_per_epoch_unpadded", int(lengths.sum()))

    trained = None
    for run in args.runs.split(","):
        precision, batches = run.split("-")
        classifier = network(precision)
        fit = fit_transformer(classifier, train, epochs=1, batch_size=args.batch_size,
                              verbose=2, bucket_by_length=batches == "bucketed")
        report(f"{run}_seconds_per_epoch", round(fit.seconds_per_epoch, 1))
        report(f"{run}_train_accuracy", round(fit.history["accuracy"][-1], 4))
        if run == "float32-bucketed":
            trained = classifier
    if trained is None:
        return

    texts, labels = test.texts, np.asarray(test.labels)
    speed_texts = texts[:args.speed_docs]
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as scratch:
        saved = load_exported(export_model(trained, f"{scratch}/savedmodel"))
        start = time.perf_counter()
        lite = load_tflite(export_tflite(trained, f"{scratch}/tflite"))
        report("tflite_export_seconds", round(time.perf_counter() - start, 1))
        report("tflite_megabytes", round(os.path.getsize(lite.path / "model.tflite") / 1e6, 1))
        saved_proba = lambda t: np.asarray(saved.predict_columns(t, 64)["probabilities"])  # noqa
        lite_proba = lambda t: lite.predict_proba(t, 16)  # noqa: E731
        report("savedmodel_float32_docs_per_second",
               round(docs_per_second(saved_proba, speed_texts, args.repeats), 1))
        report("tflite_int8_docs_per_second",
               round(docs_per_second(lite_proba, speed_texts, args.repeats), 1))
        p_saved, p_lite = saved_proba(texts), lite_proba(texts)
        report("savedmodel_float32_accuracy", round(float((p_saved.argmax(1) == labels).mean()), 4))
        report("tflite_int8_accuracy", round(float((p_lite.argmax(1) == labels).mean()), 4))
        report("max_probability_difference", round(float(np.abs(p_saved - p_lite).max()), 4))
        report("label_agreement", round(float((p_saved.argmax(1) == p_lite.argmax(1)).mean()), 4))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
