"""Choose the self-training defaults (threshold, rounds, students) on an IMDB dev split.

    TL_TEXT_DATA=../shared/data python benchmarks/tune_selftrain.py \
        --out benchmarks/results/tune-selftrain.json

Never the test set: a fixed dev split of 2,500 IMDB training reviews (`split(0.1, seed=0)`)
scores every setting. The 1,250 labelled reviews (5 % of the training set) are drawn from
the other 22,500 (stratified, `--seed`); the unlabelled pool is the 50,000 unsup reviews plus
the rest of those 22,500. `--vectors adapted` adapts GloVe on the source texts and that pool
(so the dev reviews stay unseen) and trains the source CNN from there. The teacher
(`--teacher`, default finetune+nb-lr with the cached Amazon source) is fitted once; every
student reuses its pseudo-labels.
"""

from __future__ import annotations

import argparse
import json
import time
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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", default="amazon")
    parser.add_argument("--vectors", default="glove-6b-50d",
                        help="the CNNs' starting vectors: glove-6b-50d or adapted (word2vec on "
                             "the source texts and the pool, never the dev reviews)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from tl_text.classifiers.arms import ArmOptions, Sources, build
    from tl_text.classifiers.selftrain import SelfTraining
    from tl_text.data import load_imdb
    from tl_text.training import accuracy

    imdb = load_imdb(("train", "test", "unsup"))
    rest, dev = imdb["train"].split(0.1, seed=0)
    train = rest.fraction(1250 / len(rest), seed=args.seed)
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
    for student in args.students.split(","):
        for rounds in [int(r) for r in args.rounds.split(",")] if student == "nb-lr" else [1]:
            grid = args.thresholds if student in ("nb-lr", "tfidf-lr") else args.cnn_thresholds
            for threshold in [float(t) for t in grid.split(",")]:
                started = time.perf_counter()
                clf = SelfTraining(teacher, [build(student, options, args.seed, sources)
                                             for _ in range(rounds)], pool, threshold)
                clf.fit(train)
                rows.append({"model": f"self-{student}", "rounds": rounds,
                             "threshold": threshold, "dev_accuracy": accuracy(
                                 clf.predict_proba(dev.texts), dev.labels),
                             "pseudo_labelled": clf.fit_info_["pseudo_labelled"],
                             "seconds": round(time.perf_counter() - started, 1)})
                print(rows[-1], flush=True)
                write(args.out, {"args": vars(args), "dev_docs": len(dev),
                                 "train_docs": len(train), "pool": len(pool), "rows": rows})


def write(path: str, result: dict) -> None:
    """The results so far (rewritten after every setting)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
