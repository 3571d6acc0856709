"""One small real CNN fit under each tf.distribute strategy (#13): time and accuracy.

    TL_TEXT_DATA=../shared/data python benchmarks/bench_distribute.py --repeats 3

A Kim CNN (GloVe 6B-50d, per-replica batch 32, rate 1e-3 scaled with the replicas) is
trained for `--epochs` epochs on a stratified `--fraction` of the IMDB train reviews and
scored on the same share of the test reviews, three ways, each in fresh processes and taking
turns: "default" (one process, one device), "mirrored" (MirroredStrategy over 2 logical CPU
devices) and "multiworker" (2 processes, MultiWorkerMirroredStrategy on 127.0.0.1). Prints,
per way, the median fit seconds (the chief's `fit_seconds`), the test accuracy and the time
ratio to default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WAYS = ("default", "mirrored", "multiworker")


def worker(args) -> None:
    import tensorflow as tf

    if args.strategy == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tl_text.training.distribute import get_strategy

    get_strategy(args.strategy)
    from tl_text.classifiers.cnn import CNNClassifier
    from tl_text.data.imdb import load_imdb
    from tl_text.training import accuracy

    imdb = load_imdb()
    train, test = (imdb[s].fraction(args.fraction, seed=0) for s in ("train", "test"))
    classifier = CNNClassifier("kim", epochs=args.epochs, min_epochs=args.epochs,
                               strategy=args.strategy).fit(train)
    result = {"fit_seconds": classifier.fit_info_["fit_seconds"],
              "test_accuracy": accuracy(classifier.predict_proba(test.texts), test.labels),
              "train_docs": len(train), "test_docs": len(test)}
    Path(args.worker).write_text(json.dumps(result))


def run(way: str, options: list[str], folder: Path) -> dict:
    command = [sys.executable, __file__, *options, "--strategy", way, "--worker"]
    if way != "multiworker":
        subprocess.run([*command, str(folder / "0.json")], check=True)
        return json.loads((folder / "0.json").read_text())
    from tl_text.training.distribute import local_cluster

    processes = [subprocess.Popen([*command, str(folder / f"{i}.json")],
                                  env={**os.environ, "TF_CONFIG": config})
                 for i, config in enumerate(local_cluster(2))]
    if any(p.wait() for p in processes):
        raise SystemExit(f"{way}: a worker failed")
    return json.loads((folder / "0.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", choices=WAYS, default="default")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    options = ["--fraction", str(args.fraction), "--epochs", str(args.epochs)]
    results = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for way in WAYS:
                results[way].append(run(way, options, Path(tmp)))
                print(f"repeat {repeat + 1} {way}: {results[way][-1]}", flush=True)
    base = statistics.median(r["fit_seconds"] for r in results["default"])
    for way, runs in results.items():
        seconds = statistics.median(r["fit_seconds"] for r in runs)
        scores = ", ".join(f"{r['test_accuracy']:.4f}" for r in runs)
        print(f"{way}: fit {seconds:.1f} s (x{seconds / base:.2f} of default), test accuracy "
              f"{scores}")


if __name__ == "__main__":
    main()
