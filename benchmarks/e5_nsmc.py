"""Fine-tune multilingual-e5-small (`pretrained="e5"`) on NSMC on a CPU budget, score the
50,000 test reviews, and ensemble it with the NSMC linear arms.

    python benchmarks/e5_nsmc.py --train 4000 --epochs 1 --test-fraction 0.2

A validation split (`--valid` reviews, stratified, seed 0) is carved from the 150,000
training reviews first; the linear arms train on the rest, e5 on a stratified `--train` of
the rest. `--max-length` is chosen from the training reviews' token lengths (printed). The
other members (`--members`, NSMC arms) train on the rest too. The ensemble (the weight of
e5 against the mean of the other members, and with `--candidates`, which of the other
members: every subset of two or more) is chosen on the validation split, then scored once
on the test set. Probabilities are kept in `--work`, so a re-run skips finished members.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from tl_text.classifiers import TransformerTextClassifier
from tl_text.data import load_nsmc
from tl_text.experiments.nsmc import NsmcConfig, make_classifier

PAIR = ("nb-lr:char", "nb-lr:wordpiece")


def scored(name, work: Path, make, train, valid, test, log):
    """(validation, test) probabilities of member `name`, fitted and scored once."""
    path = work / f"{name.replace(':', '_')}.npz"
    if not path.exists():
        started = time.perf_counter()
        classifier = make().fit(train)
        fitted = time.perf_counter()
        p_valid = classifier.predict_proba(valid.texts)
        p_test = classifier.predict_proba(test.texts)
        done = time.perf_counter()
        np.savez(path, valid=p_valid, test=p_test)
        log[name] = {"train_docs": len(train), "fit_seconds": round(fitted - started, 1),
                     "score_seconds_valid_and_test": round(done - fitted, 1),
                     "fit_info": getattr(classifier, "fit_info_", {})}
    with np.load(path) as npz:
        return npz["valid"], npz["test"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="e5 training reviews")
    parser.add_argument("--valid", type=int, default=3000)
    parser.add_argument("--test-fraction", type=float, default=1.0,
                        help="stratified share of the 50,000 test reviews (seed 0)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="keep e5's word-embedding table frozen")
    parser.add_argument("--members", default=",".join(PAIR),
                        help="the NSMC arms ensembled with e5 (comma-separated)")
    parser.add_argument("--candidates", action="store_true",
                        help="also choose which members (every subset of two or more) on "
                             "the validation split")
    parser.add_argument("--work", default="/tmp/e5-nsmc")
    parser.add_argument("--out", default="benchmarks/results/e5-nsmc.json")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}

    nsmc = load_nsmc(skip_empty=True)
    rest, valid = nsmc["train"].split(args.valid / len(nsmc["train"]), seed=0)
    test = nsmc["test"].fraction(args.test_fraction, seed=0)
    e5_train = rest.fraction(args.train / len(rest), seed=0)
    print(f"train {len(rest):,} (e5: {len(e5_train):,}), valid {len(valid):,}, "
          f"test {len(test):,}", flush=True)

    def make_e5():
        return TransformerTextClassifier("e5", args.max_length, "head", args.epochs,
                                         args.batch_size, args.learning_rate, verbose=2,
                                         freeze_embeddings=args.freeze_embeddings)

    if "tokens" not in log:
        tokenizer = make_e5()._network("e5", ("0", "1")).tokenizer
        lengths = [len(ids) + 2 for ids in tokenizer(e5_train.texts,
                                                     add_special_tokens=False)["input_ids"]]
        log["tokens"] = {f"p{q}": float(np.percentile(lengths, q)) for q in (50, 90, 99, 100)}
        print("tokens per review (with <s> </s>):", log["tokens"], flush=True)

    cfg = NsmcConfig()
    members = {}
    others = args.members.split(",")
    for name in (*others, "e5"):
        make = make_e5 if name == "e5" else (lambda arm=name: make_classifier(arm, cfg))
        members[name] = scored(name, work, make, e5_train if name == "e5" else rest,
                               valid, test, log)
        log_path.write_text(json.dumps(log, indent=2))
        print(name, log.get(name), flush=True)

    def accuracy(p, labels):
        return float((p.argmax(1) == labels).mean())

    rows = {name: {"valid": accuracy(v, valid.labels), "test": accuracy(t, test.labels)}
            for name, (v, t) in members.items()}
    subsets = [others]
    if args.candidates:
        subsets = [list(c) for size in range(2, len(others) + 1)
                   for c in itertools.combinations(others, size)]
    weights = np.round(np.arange(0, 1.0001, 0.05), 2)
    choices = []
    for subset in subsets:
        mean_valid = np.mean([members[n][0] for n in subset], axis=0)
        mean_test = np.mean([members[n][1] for n in subset], axis=0)
        valid_acc = [accuracy(w * members["e5"][0] + (1 - w) * mean_valid, valid.labels)
                     for w in weights]
        best = int(np.argmax(valid_acc))
        choices.append({"members": "+".join(subset), "e5_weight": float(weights[best]),
                        "valid": valid_acc[best], "valid_without_e5": valid_acc[0],
                        "test": accuracy(weights[best] * members["e5"][1]
                                         + (1 - weights[best]) * mean_test, test.labels),
                        "test_without_e5": accuracy(mean_test, test.labels),
                        "valid_by_weight": dict(zip(map(float, weights), valid_acc))})
    chosen = max(choices, key=lambda c: c["valid"])  # the first of equals
    rows["e5 ensemble (chosen on valid)"] = chosen
    rows["candidates"] = [{k: v for k, v in c.items() if k != "valid_by_weight"}
                          for c in choices]
    result = {"args": vars(args), "log": log, "accuracy": rows}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
