"""CNN steps with glibc's default malloc against `tl_text.malloc.keep_freed_memory`.

    python benchmarks/bench_malloc.py --data-dir ../shared/data
    python benchmarks/bench_malloc.py --models kim --repeats 5

For each of `--models` (Kim or Denil CNN, float32, the toolkit's default formulation, the
30,000-word vocabulary of the file's reviews and random 50-d vectors), fresh processes take
turns, `--repeats` times each: one with `TL_TEXT_MALLOC=system`, one with the default
(thresholds raised). Each times `--steps` Adam training steps and as many forward passes on
batches of `--batch-size` real Amazon reviews (the fastText head file), after one warm-up
step, and prints its median seconds and a digest of the trained weights. The report gives
the medians of the processes' medians, the ratio of each setting to `system` measured in the
same run, and whether the weights are bit for bit the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent("""
    import hashlib, json, statistics, sys, time
    import numpy as np
    import tl_text
    import tensorflow as tf, tf_keras
    from tl_text.data.amazon import iter_fasttext
    from tl_text.models import denil_cnn, kim_cnn, make_vectorizer

    args = json.loads(sys.argv[1])
    examples = list(iter_fasttext(args["path"]))
    tf_keras.utils.set_random_seed(0)
    vectorizer = make_vectorizer([e.text for e in examples], 30_000, 400)
    examples = examples[:args["documents"]]
    texts = tf.constant([e.text for e in examples])
    labels = tf.constant([e.label for e in examples])
    matrix = np.random.default_rng(0).normal(scale=0.05, size=(vectorizer.vocabulary_size(), 50))
    build = kim_cnn if args["model"] == "kim" else denil_cnn
    model = build(vectorizer, matrix.astype(np.float32))
    optimizer = tf_keras.optimizers.Adam(1e-3)
    loss = tf_keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def train(x, y):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))

    forward = tf.function(lambda x: model(x, training=False))
    size = args["batch_size"]
    batches = [(texts[i:i + size], labels[i:i + size]) for i in range(0, len(examples), size)]
    timings = {"train": [], "forward": []}
    for name, run in (("train", lambda b: train(*b)), ("forward", lambda b: forward(b[0]))):
        run(batches[0])
        for step in range(args["steps"]):
            start = time.perf_counter()
            run(batches[step % len(batches)])
            timings[name].append(time.perf_counter() - start)
    digest = hashlib.sha256(b"".join(w.numpy().tobytes() for w in model.weights)).hexdigest()
    print(json.dumps({k: statistics.median(v) for k, v in timings.items()} | {"digest": digest}))
""")

SETTINGS = {"system": {"TL_TEXT_MALLOC": "system"}, "tl_text": {}}


def run(setting: str, args: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TL_TEXT_MALLOC"} | SETTINGS[setting]
    out = subprocess.run([sys.executable, "-c", WORKER, json.dumps(args)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TL_TEXT_DATA", "../shared/data"))
    parser.add_argument("--models", nargs="+", default=["kim", "denil"], choices=["kim", "denil"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    options = parser.parse_args()
    path = os.path.join(options.data_dir, "amazon", "amazon_polarity_test_head6459.ft.txt")
    for model in options.models:
        args = {"path": path, "model": model, "steps": options.steps,
                "batch_size": options.batch_size, "documents": options.steps * options.batch_size}
        reports = {setting: [] for setting in SETTINGS}
        for _ in range(options.repeats):
            for setting in SETTINGS:
                reports[setting].append(run(setting, args))
        medians = {s: {k: statistics.median(r[k] for r in rs) for k in ("train", "forward")}
                   for s, rs in reports.items()}
        digests = {r["digest"] for rs in reports.values() for r in rs}
        print(json.dumps({
            "model": model, "batch_size": options.batch_size, "repeats": options.repeats,
            "seconds_per_step": medians,
            "speed_vs_system": {s: {k: round(medians["system"][k] / m[k], 2) for k in m}
                                for s, m in medians.items()},
            "same_weights": len(digests) == 1}), flush=True)


if __name__ == "__main__":
    main()
