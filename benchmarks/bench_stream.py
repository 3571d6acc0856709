"""One source-CNN epoch streamed from a large fastText file: docs/s and peak RSS.

    python benchmarks/bench_stream.py --data-dir ../shared/data --lines 3600000
    python benchmarks/bench_stream.py --data-dir ../shared/data --lines 360000 --workers 1 2

Builds a `--lines`-line fastText file in a temp folder by repeating the real Amazon polarity
reviews (the upstream training file has 3.6 M lines; its first 6,459 are here), then, for
each worker count, in fresh processes: one streamed vocabulary pass and one epoch of a Kim
CNN (`tl_text.training.stream`) with its held-out validation pass. With 2 workers, two
processes on 127.0.0.1 form a MultiWorkerMirroredStrategy cluster (a TF_CONFIG each), each
reading the file and keeping every other document. Each process samples its RSS every
second; the report gives its peak and the samples at each quarter of the run, to show that
memory stays flat while the epoch streams.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORKER = textwrap.dedent("""
    import json, os, resource, sys, threading, time
    import numpy as np
    import tensorflow as tf
    import tf_keras
    from tl_text.models import kim_cnn, vectorizer_from_vocabulary
    from tl_text.training.stream import fit_stream, stream_vocabulary

    args = json.loads(sys.argv[1])
    samples = []
    def sample():
        while True:
            with open("/proc/self/statm") as f:
                samples.append(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
            time.sleep(1)
    threading.Thread(target=sample, daemon=True).start()
    workers = args["workers"]
    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if workers > 1
                else tf.distribute.get_strategy())
    tf_keras.utils.set_random_seed(0)
    paths = [args["path"]]
    start = time.perf_counter()
    words = stream_vocabulary(paths, args["max_tokens"])
    vocabulary_seconds = time.perf_counter() - start
    matrix = np.random.default_rng(0).normal(scale=0.05, size=(len(words), args["dim"]))
    with strategy.scope():
        model = kim_cnn(vectorizer_from_vocabulary(words, args["sequence_length"]),
                        matrix.astype(np.float32))
    # every worker runs as many global batches as its shortest shard fills
    steps = (args["train_docs"] // workers) // (args["batch_size"] // workers) \
        if workers > 1 else None
    result = fit_stream(model, paths, epochs=1, batch_size=args["batch_size"],
                        shuffle_buffer=args["shuffle_buffer"], steps_per_epoch=steps,
                        strategy=strategy, verbose=0)
    epoch_seconds = result.seconds_per_epoch
    quarters = [round(samples[min(len(samples) - 1, len(samples) * q // 4)]) for q in range(1, 5)]
    print(json.dumps({
        "vocabulary_seconds": round(vocabulary_seconds, 1),
        "epoch_seconds": round(epoch_seconds, 1), "steps": steps,
        "val_accuracy": round(result.history["val_accuracy"][0], 4),
        "rss_quarters_mb": quarters,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
""")


def build_file(source: Path, lines: int, folder: Path) -> Path:
    """`lines` lines of `source`, repeated as often as needed."""
    with open(source, "rb") as f:
        base = f.readlines()
    path = folder / f"amazon-{lines}.ft.txt"
    with open(path, "wb") as out:
        out.writelines(itertools.islice(itertools.cycle(base), lines))
    return path


def train_docs(source: Path, lines: int) -> int:
    """How many of the first `lines` repeated lines fall into the training part."""
    from tl_text.data.amazon import iter_fasttext
    from tl_text.data.stream import is_held_out

    kept = [not is_held_out(ex.text, 0.1) for ex in iter_fasttext(source)]
    copies, rest = divmod(lines, len(kept))
    return copies * sum(kept) + sum(kept[:rest])


def run(workers: int, args: dict) -> list[dict]:
    """Start `workers` processes (a TF_CONFIG cluster when more than one); their reports."""
    from tl_text.training.distribute import local_cluster

    configs = local_cluster(workers) if workers > 1 else [None]
    processes = []
    for config in configs:
        env = dict(os.environ) if config is None else {**os.environ, "TF_CONFIG": config}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps({**args, "workers": workers})],
            env=env, stdout=subprocess.PIPE, text=True))
    reports = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"a worker failed (exit {process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--lines", type=int, default=3_600_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shuffle-buffer", type=int, default=10_000)
    parser.add_argument("--max-tokens", type=int, default=30_000)
    parser.add_argument("--sequence-length", type=int, default=400)
    parser.add_argument("--dim", type=int, default=50, help="embedding size (random vectors)")
    options = parser.parse_args()
    source = Path(options.data_dir) / "amazon" / "amazon_polarity_test_head6459.ft.txt"
    with tempfile.TemporaryDirectory() as folder:
        path = build_file(source, options.lines, Path(folder))
        docs = train_docs(source, options.lines)
        args = {"path": str(path), "train_docs": docs, "batch_size": options.batch_size,
                "shuffle_buffer": options.shuffle_buffer, "max_tokens": options.max_tokens,
                "sequence_length": options.sequence_length, "dim": options.dim}
        for workers in options.workers:
            reports = run(workers, args)
            seconds = max(r["epoch_seconds"] for r in reports)
            trained = docs if workers == 1 else reports[0]["steps"] * options.batch_size
            print(json.dumps({"lines": options.lines, "workers": workers,
                              "train_docs": trained, "docs_per_s": round(trained / seconds),
                              "reports": reports}), flush=True)


if __name__ == "__main__":
    main()
