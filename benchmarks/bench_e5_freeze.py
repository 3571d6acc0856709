"""multilingual-e5-small fine-tuning with and without a frozen word-embedding table, on NSMC.

    python benchmarks/bench_e5_freeze.py steps --steps 10
    python benchmarks/bench_e5_freeze.py accuracy --train 2000 --valid 1000 [--frozen]

steps: seconds per training step (native AdamW trainer, `--batch-size` real NSMC training
reviews a batch, `--max-length` tokens, head+tail) of the two settings in one process: both
networks are compiled by a fit on two batches, then take turns on the same `--steps`
further batches (`train_on_batch`); wall and CPU seconds (all threads) of each step, medians.
On a shared machine the CPU seconds are the steadier figure.
accuracy: one setting (a process each, to bound memory) fitted 1 epoch on a stratified
`--train` of the training reviews and scored on a stratified `--valid` of the test reviews.
The load average is recorded beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import tl_text  # noqa: F401  (Keras 2, before TensorFlow loads)
from tl_text.classifiers import TransformerTextClassifier
from tl_text.data import load_nsmc
from tl_text.models import TransformerClassifier
from tl_text.training import accuracy, fit_transformer

SETTINGS = {"full": False, "frozen": True}


def step_seconds(train, args) -> dict:
    size, networks = args.batch_size, {}
    for name, frozen in SETTINGS.items():
        network = TransformerClassifier.from_pretrained("e5", train.label_names,
                                                        args.max_length, "head+tail")
        if frozen:
            network.freeze_word_embeddings()
        fit_transformer(network, train.subset(range(2 * size)), epochs=1, batch_size=size,
                        learning_rate=args.learning_rate, verbose=0)  # compiles the model
        networks[name] = network
    wall = {name: [] for name in networks}
    cpu = {name: [] for name in networks}
    for step in range(args.steps):
        batch = train.subset(range((step + 2) * size, (step + 3) * size))
        for name, network in networks.items():
            inputs = network.pad(network.token_ids(batch.texts))
            started, started_cpu = time.perf_counter(), time.process_time()
            network.model.train_on_batch(inputs, batch.labels.astype(np.int32))
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: {"median_wall_s": round(statistics.median(wall[name]), 3),
                   "median_cpu_s": round(statistics.median(cpu[name]), 3),
                   "wall_s": [round(s, 2) for s in wall[name]],
                   "cpu_s": [round(s, 2) for s in cpu[name]]} for name in networks}


def fitted_accuracy(train, valid, args) -> dict:
    classifier = TransformerTextClassifier(
        "e5", args.max_length, "head+tail", epochs=1, batch_size=args.batch_size,
        learning_rate=args.learning_rate, freeze_embeddings=args.frozen)
    started = time.perf_counter()
    classifier.fit(train)
    fitted = time.perf_counter()
    score = accuracy(classifier.predict_proba(valid.texts), valid.labels)
    return {"frozen": args.frozen, "train": len(train), "valid": len(valid),
            "accuracy": round(float(score), 4), "fit_s": round(fitted - started, 1),
            "score_s": round(time.perf_counter() - fitted, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("steps", "accuracy"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--valid", type=int, default=1000)
    parser.add_argument("--frozen", action="store_true", help="accuracy: freeze the table")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    splits = load_nsmc(data_dir=args.data_dir)
    train = splits["train"].fraction(args.train / len(splits["train"]), seed=0)
    load_before = os.getloadavg()
    if args.part == "steps":
        result = step_seconds(train, args)
    else:
        valid = splits["test"].fraction(args.valid / len(splits["test"]), seed=0)
        result = fitted_accuracy(train, valid, args)
    print(json.dumps({"part": args.part, "args": vars(args), "result": result,
                      "load_before": load_before, "load_after": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
