"""Seconds per fine-tuning epoch and prediction docs/s of a transformer classifier on IMDB.

    python benchmarks/bench_transformer.py --data-dir ../shared/data --fraction 0.05

One epoch per trainer (native AdamW, ktrain one-cycle) on the stratified IMDB fraction, then
`predict_proba` on a stratified slice of the test set; the load average is printed with each
figure because this machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import tl_text  # noqa: F401  (Keras 2 for ktrain, before TensorFlow loads)
from tl_text.data import load_imdb
from tl_text.models import TransformerClassifier
from tl_text.training import fit_transformer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--pretrained", default="minilm")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--test-docs-fraction", type=float, default=0.04)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--trainers", default="native,ktrain")
    args = parser.parse_args()

    imdb = load_imdb(("train", "test"), data_dir=args.data_dir)
    train = imdb["train"].fraction(args.fraction, seed=0)
    test = imdb["test"].fraction(args.test_docs_fraction, seed=0)
    results = {"documents": len(train), "test_documents": len(test),
               "max_length": args.max_length, "batch_size": args.batch_size}
    for trainer in args.trainers.split(","):
        classifier = TransformerClassifier.from_pretrained(
            args.pretrained, train.label_names, args.max_length, "head+tail")
        fit = fit_transformer(classifier, train, epochs=1, batch_size=args.batch_size,
                              trainer=trainer, verbose=2)
        results[f"{trainer}_seconds_per_epoch"] = round(fit.seconds_per_epoch, 1)
        results[f"{trainer}_load_average"] = round(os.getloadavg()[0], 2)
        print(json.dumps(results), flush=True)
    start = time.perf_counter()
    classifier.predict_proba(test.texts)
    results["predict_docs_per_second"] = round(len(test) / (time.perf_counter() - start), 1)
    results["predict_load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
