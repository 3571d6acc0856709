"""Seconds per MiniLM fine-tuning step (batch of real IMDB reviews at 256 wordpieces) for
several training variants, interleaved round by round so that load swings hit them alike,
and optionally where a step's time goes (TF profiler op types, oneDNN primitives).

    python benchmarks/bench_minilm_step.py --data-dir ../shared/data \
        --variants float32,bfloat16,bfloat16+jit,bfloat16+freeze --rounds 5
    python benchmarks/bench_minilm_step.py --data-dir ../shared/data --variants bfloat16 \
        --profile /tmp/minilm-profile
    ONEDNN_VERBOSE=1 python benchmarks/bench_minilm_step.py ... --rounds 1 > x.log
    python benchmarks/bench_minilm_step.py --onednn-log x.log

A variant is a precision (float32, bfloat16) with options joined by "+": `jit` (XLA
`jit_compile` of the train step), `freeze` (word-embedding table frozen), `b32` (batch 32
instead of the base batch), `noattndrop` (no dropout on the attention probabilities), `adamjit`
(the AdamW update step under XLA). Every variant trains on the same reviews (the longest of a
stratified 5 % slice, so every row holds 256 wordpieces); the figure per variant is the
median step time over `--rounds` rounds (after `--warmup` steps), and seconds per document.
`--epoch` times whole epochs instead and scores each variant on a validation slice.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import tl_text  # noqa: F401  (Keras 2, before tf_keras loads)
from tl_text.data import load_imdb
from tl_text.models import TransformerClassifier
from tl_text.models.precision import policy
from tl_text.training import fit_transformer
from tl_text.training.transformer_fit import compile_for_fine_tuning


def minilm(variant: str, labels, max_length: int) -> TransformerClassifier:
    """MiniLM built as `variant` says (precision, freeze, noattndrop)."""
    precision, *options = variant.split("+")
    with policy(precision):
        built = TransformerClassifier.from_pretrained(
            "minilm", labels, max_length, "head+tail",
            attention_dropout=0.0 if "noattndrop" in options else None)
    if "freeze" in options:
        built.freeze_word_embeddings()
    return built


def build(variant: str, labels, max_length: int):
    options = variant.split("+")[1:]
    network = minilm(variant, labels, max_length)
    compile_for_fine_tuning(network, 5e-5, steps=1000, jit_compile="jit" in options)
    if "adamjit" in options:  # tf_keras turns the optimizer's XLA update off without a GPU
        network.model.optimizer.jit_compile = True
    return network, 32 if "b32" in options else None


def op_profile(logdir: Path) -> dict[str, float]:
    """Share of summed TF op time per op type, from the newest profiler trace in `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    trace = max(logdir.rglob("*.xplane.pb"), key=os.path.getmtime)
    space = xplane_pb2.XSpace.FromString(trace.read_bytes())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name or "PartitionedCall" in name \
                        or "__inference" in name:
                    continue
                totals[name.rsplit(":", 1)[1]] += event.duration_ps
    whole = sum(totals.values()) or 1
    return {op: round(t / whole, 4) for op, t in totals.most_common(40)}


def onednn_summary(log: Path) -> dict[str, float]:
    """Milliseconds per (primitive, implementation, source->destination types) in a
    ONEDNN_VERBOSE log."""
    totals: collections.Counter = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        fields = line.split(",")
        if len(fields) < 10 or fields[0] != "onednn_verbose" or "exec" not in fields:
            continue
        at = fields.index("exec")
        kind, impl = fields[at + 2], fields[at + 3]
        types = "->".join(re.findall(r"\b(?:src|dst)\w*:(\w+)", line)) or "?"
        try:
            totals[f"{kind} {impl} {types}"] += float(fields[-1])
        except ValueError:
            continue
    return {k: round(v, 1) for k, v in totals.most_common(20)}


def epochs(variants, train, valid, args) -> None:
    """One epoch per variant: seconds, training and validation accuracy, load averages."""
    for variant in variants:
        _, *options = variant.split("+")
        tf.keras.utils.set_random_seed(0)  # the same classification head for every variant
        network = minilm(variant, train.label_names, args.max_length)
        load = os.getloadavg()[0]
        fit = fit_transformer(network, train, epochs=1, verbose=2,
                              batch_size=32 if "b32" in options else args.batch_size)
        start = time.perf_counter()
        predicted = network.predict_proba(valid.texts).argmax(1)
        print(json.dumps({
            "variant": variant, "seconds_per_epoch": round(fit.seconds_per_epoch, 1),
            "train_accuracy": round(fit.history["accuracy"][-1], 4),
            "valid_documents": len(valid),
            "valid_accuracy": round(float((predicted == valid.labels).mean()), 4),
            "predict_seconds": round(time.perf_counter() - start, 1),
            "load_average_start_end": [round(load, 2), round(os.getloadavg()[0], 2)]}),
            flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--variants", default="float32,bfloat16")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="trace one step per variant here")
    parser.add_argument("--epoch", action="store_true",
                        help="instead of steps: one native-trainer epoch (bucketed batches) on "
                             "the whole 5 %% slice per variant, one after another, then "
                             "accuracy on a stratified --valid-fraction of the test set")
    parser.add_argument("--valid-fraction", type=float, default=0.016)
    parser.add_argument("--onednn-log", type=Path,
                        help="only summarise this ONEDNN_VERBOSE=1 log (stdout of a run)")
    args = parser.parse_args()

    if args.onednn_log:
        print(json.dumps({"onednn_ms": onednn_summary(args.onednn_log)}, indent=1))
        return
    imdb = load_imdb(("train", "test"), data_dir=args.data_dir)
    train = imdb["train"].fraction(0.05, seed=0)
    variants = args.variants.split(",")
    if args.epoch:
        epochs(variants, train, imdb["test"].fraction(args.valid_fraction, seed=0), args)
        return
    networks = {v: build(v, train.label_names, args.max_length) for v in variants}
    first = next(iter(networks.values()))[0]
    rows = first.token_ids(train.texts)
    longest = np.argsort([-len(r) for r in rows], kind="stable")[:32]
    results = {"load_average_start": os.getloadavg()[0]}

    def batch(size):
        index = longest[:size or args.batch_size]
        inputs = first.pad([rows[i] for i in index], args.max_length)
        return inputs, train.labels[index].astype(np.int32)

    def step(variant):
        network, size = networks[variant]
        inputs, labels = batch(size)
        start = time.perf_counter()
        network.model.train_on_batch(inputs, labels)
        return time.perf_counter() - start

    for variant in variants:
        results[variant] = {"warmup_steps_s": [round(step(variant), 2)
                                               for _ in range(args.warmup)]}
    times = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            times[variant].append(step(variant))
    for variant in variants:
        size = networks[variant][1] or args.batch_size
        median = statistics.median(times[variant])
        results[variant] |= {"median_step_s": round(median, 3), "batch": size,
                            "s_per_doc": round(median / size, 4),
                            "steps_s": [round(t, 2) for t in times[variant]]}
    if args.profile:
        for variant in variants:
            tf.profiler.experimental.start(str(args.profile / variant))
            step(variant)
            tf.profiler.experimental.stop()
            results[variant]["op_shares"] = op_profile(args.profile / variant)
    results["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=1), flush=True)


if __name__ == "__main__":
    main()
