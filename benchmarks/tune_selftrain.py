"""Choose the self-training defaults (threshold, rounds, students) on an IMDB dev split.

    TL_TEXT_DATA=../shared/data python benchmarks/tune_selftrain.py \
        --out benchmarks/results/tune-selftrain.json

Never the test set: a fixed dev split of 2,500 IMDB training reviews (`split(0.1, seed=0)`)
scores every setting. The labelled reviews (`--labelled`, default 1,250: 5 % of the training
set; 0: all 22,500, the 100 % setting) are drawn from the other 22,500 (stratified,
`--seed`); the unlabelled pool is the 50,000 unsup reviews plus the rest of those 22,500.
`--vectors adapted` adapts GloVe on the source texts and that pool (so the dev reviews stay
unseen) and trains the source CNN from there. The teacher
(`--teacher`, default finetune+nb-lr with the cached Amazon source) is fitted once; every
student reuses its pseudo-labels. NB-LR students (and plain NB-LR members) are fitted for
every n-gram order in `--ngrams`. Last, every mean-of-probabilities ensemble of two or more
of the fitted models (the teacher's members, the plain NB-LRs, the best student of each
arm and order) is scored on the dev split: the ensemble to run on the test set is chosen
there.

    python benchmarks/tune_selftrain.py --labelled 0 --vectors adapted --students nb-lr \
        --thresholds 0.5 --rounds 1 --ngrams 2,3 --out benchmarks/results/tune-full.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from dataclasses import replace
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher", default="finetune+nb-lr")
    parser.add_argument("--students", default="nb-lr,finetune",
                        help="comma-separated arms to self-train")
    parser.add_argument("--thresholds", default="0.5,0.7,0.8,0.9,0.95")
    parser.add_argument("--cnn-thresholds", default="0.7,0.9",
                        help="thresholds for the CNN students (each fit takes minutes)")
    parser.add_argument("--rounds", default="1,2", help="rounds to try (nb-lr students only)")
    parser.add_argument("--labelled", type=int, default=1250,
                        help="labelled reviews drawn from the 22,500 non-dev ones (0: all)")
    parser.add_argument("--ngrams", default="2",
                        help="n-gram orders of the NB-LR students and plain NB-LR members")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", default="amazon")
    parser.add_argument("--vectors", default="glove-6b-50d",
                        help="the CNNs' starting vectors: glove-6b-50d or adapted (word2vec on "
                             "the source texts and the pool, never the dev reviews)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from tl_text.classifiers.arms import ArmOptions, Sources, build
    from tl_text.classifiers.ensemble import combine
    from tl_text.classifiers.selftrain import SelfTraining
    from tl_text.data import load_imdb
    from tl_text.training import accuracy

    imdb = load_imdb(("train", "test", "unsup"))
    rest, dev = imdb["train"].split(0.1, seed=0)
    train = rest.fraction(args.labelled / len(rest) if args.labelled else 1.0, seed=args.seed)
    chosen = set(train.ids)
    pool = [*imdb["unsup"].texts, *(t for i, t in zip(rest.ids, rest.texts) if i not in chosen)]
    options = ArmOptions(teacher=args.teacher, source=args.source, vectors=args.vectors,
                         verbose=0)
    sources = Sources(options, exclude=imdb["test"].texts, unlabelled=pool)  # as transfer.py
    teacher = sources.teacher(args.seed)
    started = time.perf_counter()
    teacher.fit(train)
    rows = [{"model": f"teacher {args.teacher}", "dev_accuracy": accuracy(
        teacher.classifier.predict_proba(dev.texts), dev.labels),
        "seconds": round(time.perf_counter() - started, 1)}]
    print(rows[-1], flush=True)
    members = getattr(teacher.classifier, "members", [teacher.classifier])
    dev_probabilities = {part: member.predict_proba(dev.texts)
                         for part, member in zip(args.teacher.split("+"), members)}
    linear_orders = [int(n) for n in args.ngrams.split(",")]

    def report(**extra):
        write(args.out, {"args": vars(args), "dev_docs": len(dev), "train_docs": len(train),
                         "pool": len(pool), "rows": rows, **extra})

    for order in linear_orders:
        if order == options.ngrams and "nb-lr" in dev_probabilities:
            continue  # the teacher's own NB-LR
        started = time.perf_counter()
        clf = build("nb-lr", replace(options, ngrams=order), args.seed, sources).fit(train)
        dev_probabilities[f"nb-lr{order}"] = clf.predict_proba(dev.texts)
        rows.append({"model": f"nb-lr{order}", "dev_accuracy": accuracy(
            dev_probabilities[f"nb-lr{order}"], dev.labels),
            "seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
    for student in args.students.split(","):
        orders = linear_orders if student == "nb-lr" else [options.ngrams]
        for order in orders:
            name = f"self-{student}" + (f"{order}" if student == "nb-lr" else "")
            student_options = replace(options, ngrams=order)
            linear = student in ("nb-lr", "tfidf-lr")
            grid = args.thresholds if linear else args.cnn_thresholds
            for rounds in [int(r) for r in args.rounds.split(",")] if linear else [1]:
                for threshold in [float(t) for t in grid.split(",")]:
                    started = time.perf_counter()
                    students = [build(student, student_options, args.seed, sources)
                                for _ in range(rounds)]
                    clf = SelfTraining(teacher, students, pool, threshold)
                    clf.fit(train)
                    probabilities = clf.predict_proba(dev.texts)
                    rows.append({"model": name, "rounds": rounds, "threshold": threshold,
                                 "dev_accuracy": accuracy(probabilities, dev.labels),
                                 "pseudo_labelled": clf.fit_info_["pseudo_labelled"],
                                 "seconds": round(time.perf_counter() - started, 1)})
                    print(rows[-1], flush=True)
                    best = max((r["dev_accuracy"] for r in rows[:-1] if r["model"] == name),
                               default=-1)
                    if rows[-1]["dev_accuracy"] > best:  # the best setting of each student
                        dev_probabilities[name] = probabilities
                    report()
    ensembles = []
    for size in range(2, len(dev_probabilities) + 1):
        for names in itertools.combinations(dev_probabilities, size):
            ensembles.append({"members": "+".join(names), "dev_accuracy": accuracy(
                combine([dev_probabilities[n] for n in names]), dev.labels)})
    ensembles.sort(key=lambda row: -row["dev_accuracy"])
    for row in ensembles[:10]:
        print(row, flush=True)
    report(ensembles=ensembles)


def write(path: str, result: dict) -> None:
    """The results so far (rewritten after every setting)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
