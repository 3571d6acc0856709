"""fastText beside the toolkit's exported models on IMDB: accuracy, docs/s, training seconds.

    TL_TEXT_DATA=../shared/data python benchmarks/bench_peers.py \\
        --source saved_models/source-amazon-denil-23d60e4c \\
        --vectors embeddings/adapted-amazon-glove-6b-50d-7b2b23f2.w2v.txt
    ... --fractions 0.05 --seeds 0 --models "CNN bf16=saved_models/imdb-cnn-bf16"

Every model is trained on the toolkit's stratified IMDB fractions (`TextDataset.fraction(f,
seed=s)`, seeds `--seeds`) and scored on the 25,000 test reviews, all in one process:

1. fastText supervised (`pip install .[bench]`) with word bigrams (`wordNgrams=2`), fed the
   text the toolkit's CNNs see: lower-cased, `<br />` removed, punctuation and clitics split
   off (`tl_text.embeddings.adapt.cnn_words`), tokenised by fastText on whitespace. Its
   epoch, lr, dim and minCount are chosen per fraction on the fixed dev split
   (`imdb["train"].split(0.1, seed=0)`: fitted on as many of the other 22,500 reviews as the
   fraction holds, scored on the 2,500 held out), never on the test set.
2. The toolkit's NB-LR (`NBLogisticRegression`), exported and loaded back as a SavedModel.
3. The scikit-learn NB-LR (`tl_text.models.linear`: CountVectorizer + LogisticRegression).
4. At `--cnn-fractions`: the `finetune` arm (Denil CNN fine-tuned from the cached source CNN
   `--source`) and the `finetune+nb-lr` ensemble, both exported.
5. `--models LABEL=PATH`: exports made elsewhere (e.g. bf16 CNNs), scored as they are.

Deterministic fits (both NB-LRs) on the whole training set are made once, not per seed.
Speed: docs/s over the 25,000 test reviews, median of `--repeats` runs after a warm-up, with
2 TensorFlow threads; exports through their serving signature in batches of `--batch-size`,
scikit-learn's `predict_proba` and fastText's `predict` on the whole list (fastText on the
preprocessed texts; "with preprocessing" adds one timed pass of `cnn_words`).

Writes `--out`/peers.json, peers.md (tables, goal check) and pareto.png; `--append` keeps the
rows of earlier runs there (e.g. one run per fraction, or exports added later with
`--fractions '' --models ...`: compare speeds only within one run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

GRIDS = {  # fastText's search space; small training sets need more epochs. The large grid is
    # kept to 8 fits (about 6 minutes on 2 busy cores): minCount fixed, between the two tried
    "small": {"epoch": [10, 25, 50], "lr": [0.1, 0.5], "dim": [10, 50], "minCount": [1, 3]},
    "large": {"epoch": [5, 10], "lr": [0.25, 0.5], "dim": [10, 50], "minCount": [2]},
}
SMALL = 0.2  # fractions up to this use the "small" grid
FASTTEXT = "fastText bigrams"
TOOLKIT = ("NB-LR export", "finetune CNN export", "finetune+nb-lr export")


def timed(run):
    """(run(), seconds)."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def scored(predict, texts: list, timed_runs: int):
    """(predict(texts) as labels, docs/s of each run): `timed_runs` timed runs after a warm-up
    call (none: one untimed run)."""
    if not timed_runs:
        return np.asarray(predict(texts)), []
    predict(texts[:64])
    rates = []
    for _ in range(timed_runs):
        result, seconds = timed(lambda: predict(texts))
        rates.append(round(len(texts) / seconds))
    return np.asarray(result), rates


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(predicted) == labels).mean())


# --- fastText ------------------------------------------------------------------------------

def fasttext_file(texts: list[str], labels: np.ndarray, seed: int, folder: str) -> str:
    """A fastText training file (`__label__N words...`), in a shuffled order: fastText's SGD
    reads it front to back, and the toolkit's fractions are ordered by class."""
    order = np.random.default_rng(seed).permutation(len(texts))
    path = os.path.join(folder, f"train-{len(texts)}.txt")
    with open(path, "w", encoding="utf-8") as file:
        file.writelines(f"__label__{labels[i]} {texts[i]}\n" for i in order)
    return path


def fasttext_fit(texts: list[str], labels: np.ndarray, params: dict, seed: int, folder: str):
    import fasttext

    path = fasttext_file(texts, labels, seed, folder)
    model = fasttext.train_supervised(path, wordNgrams=2, thread=2, seed=seed, verbose=0,
                                      **params)
    os.unlink(path)
    return model


def fasttext_labels(model, texts: list[str]) -> np.ndarray:
    return np.array([int(labels[0].removeprefix("__label__"))
                     for labels in model.predict(texts)[0]])


def choose_fasttext(words: list[str], imdb, fraction: float, folder: str, log) -> dict:
    """The grid's best fastText parameters for `fraction`, by accuracy on the dev split."""
    rest, dev = imdb["train"].split(0.1, seed=0)
    size = min(1.0, fraction * len(imdb["train"]) / len(rest))
    train = rest.fraction(size, seed=0)
    index = {doc_id: i for i, doc_id in enumerate(imdb["train"].ids)}
    train_words = [words[index[i]] for i in train.ids]
    dev_words = [words[index[i]] for i in dev.ids]
    grid = GRIDS["small" if fraction <= SMALL else "large"]
    tried = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        model, seconds = timed(lambda: fasttext_fit(train_words, train.labels, params, 0,
                                                    folder))
        tried.append({**params, "dev_accuracy": accuracy(fasttext_labels(model, dev_words),
                                                         dev.labels),
                      "fit_seconds": round(seconds, 1)})
        log(f"  fastText {params}: dev {tried[-1]['dev_accuracy']:.4f} ({seconds:.1f} s)")
    best = max(tried, key=lambda t: t["dev_accuracy"])
    return {"params": {name: best[name] for name in grid}, "train_docs": len(train),
            "dev_docs": len(dev), "tried": tried}


# --- exports -------------------------------------------------------------------------------

def export_predictor(path: Path, batch_size: int):
    """texts -> label ids through the export's serving signature."""
    import tensorflow as tf

    from tl_text.export import load_exported

    serve = load_exported(path).signature
    return lambda texts: np.concatenate([
        serve(text=tf.constant(texts[i:i + batch_size]))["label_id"].numpy()
        for i in range(0, len(texts), batch_size)])


def run_fraction(imdb, words: dict, preprocessing_rate: float, fraction: float, args,
                 folder: str, log) -> list[dict]:
    """One row per model trained on `fraction`: accuracies per seed, fit seconds, docs/s (of
    the first seed's model)."""
    from threadpoolctl import threadpool_limits

    from tl_text.classifiers import CNNClassifier, Ensemble, NBLogisticRegression
    from tl_text.models import linear

    test, rows = imdb["test"], {}

    def add(model: str, seed: int, predict, texts: list, seconds: float, **extra) -> None:
        row = rows.setdefault(model, {"model": model, "fraction": fraction, "seeds": [],
                                      "accuracies": [], "fit_seconds": [], **extra})
        first = not row["seeds"]
        predicted, rates = scored(predict, texts, args.repeats if first else 0)
        if first:
            row["docs_per_second_runs"] = rates
        row["seeds"].append(seed)
        row["accuracies"].append(accuracy(predicted, test.labels))
        row["fit_seconds"].append(round(seconds, 1))
        log(f"{model} @ {fraction:g}, seed {seed}: accuracy {row['accuracies'][-1]:.4f}, "
            f"fit {seconds:.1f} s{f', docs/s {rates}' if rates else ''}")

    chosen = choose_fasttext(words["train"], imdb, fraction, folder, log)
    log(f"fastText @ {fraction:g}: chose {chosen['params']}")
    index = {doc_id: i for i, doc_id in enumerate(imdb["train"].ids)}
    for seed in args.seeds:
        train = imdb["train"].fraction(fraction, seed=seed)
        model, seconds = timed(lambda: fasttext_fit([words["train"][index[i]] for i in
                                                     train.ids], train.labels,
                                                    chosen["params"], seed, folder))
        add(FASTTEXT, seed, lambda texts: fasttext_labels(model, texts), words["test"],
            seconds, hyperparameters=chosen,
            preprocessing_docs_per_second=round(preprocessing_rate))

    seeds = args.seeds if fraction < 1 else args.seeds[:1]  # deterministic fits: just one
    for seed in seeds:
        train = imdb["train"].fraction(fraction, seed=seed)
        nb_lr, seconds = timed(lambda: NBLogisticRegression().fit(train))
        path = nb_lr.export(Path(folder) / f"nb-lr-{fraction:g}-{seed}")
        add("NB-LR export", seed, export_predictor(path, args.batch_size), test.texts, seconds)
        if seed == seeds[0]:  # slow to score: the first seed only
            with threadpool_limits(limits=2, user_api="blas"):
                sk, seconds = timed(lambda: linear.NBLogisticRegression().fit(train.texts,
                                                                              train.labels))
                add("scikit-learn NB-LR", seed, sk.predict, test.texts, seconds)
        if fraction not in args.cnn_fractions:
            continue
        cnn, cnn_seconds = timed(lambda: CNNClassifier(
            "denil", args.vectors, init_from=args.source, transfer="network",
            seed=seed).fit(train))
        log(f"finetune CNN @ {fraction:g}, seed {seed}: {cnn.fit_info_}")
        for name, model, fit_seconds in (
                ("finetune CNN export", cnn, cnn_seconds),
                ("finetune+nb-lr export", Ensemble([cnn, nb_lr], prefit=True),
                 cnn_seconds + nb_lr.fit_info_["fit_seconds"])):
            path = model.export(Path(folder) / f"{name.split()[0]}-{fraction:g}-{seed}")
            add(name, seed, export_predictor(path, args.batch_size), test.texts, fit_seconds)
    return list(rows.values())


def run_exports(imdb, models: list[tuple[str, str]], args, log) -> list[dict]:
    """Rows for exports made elsewhere: scored as they are, training figures from metadata."""
    from tl_text.export import load_exported

    test, rows = imdb["test"], []
    for name, path in models:
        metadata = load_exported(path).metadata
        predicted, rates = scored(export_predictor(Path(path), args.batch_size), test.texts,
                                  args.repeats)
        documents = metadata.get("training_data", {}).get("documents")
        rows.append({"model": name, "path": path, "seeds": [None],
                     "fraction": documents / len(imdb["train"]) if documents else None,
                     "accuracies": [accuracy(predicted, test.labels)],
                     "fit_seconds": [metadata.get("fit_info", {}).get("fit_seconds")],
                     "docs_per_second_runs": rates})
        log(f"{name}: accuracy {rows[-1]['accuracies'][0]:.4f}, docs/s {rates}")
    return rows


# --- report --------------------------------------------------------------------------------

def summarise(row: dict) -> dict:
    runs = row["docs_per_second_runs"]
    fits = [s for s in row["fit_seconds"] if s is not None]
    return {**row, "accuracy": float(np.mean(row["accuracies"])),
            "std": float(np.std(row["accuracies"])), "docs_per_second": statistics.median(runs),
            "fit_seconds_median": statistics.median(fits) if fits else None}


def label(row: dict) -> str:
    return row["model"] if row["fraction"] is None else f"{row['model']} ({row['fraction']:.0%})"


def table(rows: list[dict]) -> list[str]:
    lines = ["| model | train docs | accuracy (%) | docs/s (median) | runs | vs. fastText "
             "speed | fit s (median) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        fast = next((r for r in rows if r["model"] == FASTTEXT
                     and r["fraction"] == row["fraction"]), None)
        ratio = f"{row['docs_per_second'] / fast['docs_per_second']:.2f}×" if fast else "–"
        docs = "?" if row["fraction"] is None else f"{round(row['fraction'] * 25_000):,}"
        mean = f"{100 * row['accuracy']:.2f}" + (
            f" ± {100 * row['std']:.2f}" if len(row["accuracies"]) > 1 else "")
        lines.append(f"| {row['model']} | {docs} | {mean} | {row['docs_per_second']:,.0f} | "
                     f"{', '.join(f'{r:,}' for r in row['docs_per_second_runs'])} | {ratio} | "
                     f"{row['fit_seconds_median']} |")
    for row in rows:
        if row["model"] == FASTTEXT:
            preprocessing = row["preprocessing_docs_per_second"]
            with_it = 1 / (1 / row["docs_per_second"] + 1 / preprocessing)
            lines.append(f"\nfastText ({row['fraction']:.0%}) with its Python preprocessing "
                         f"({preprocessing:,} docs/s, one pass): {with_it:,.0f} docs/s; "
                         f"parameters {row['hyperparameters']['params']}")
    return lines


def goal(rows: list[dict]) -> list[str]:
    """The issue's goal per fraction: a toolkit export more accurate than fastText at no less
    than a third of its speed; the most accurate export, and the most accurate that is fast
    enough."""
    lines = []
    for fraction in sorted({r["fraction"] for r in rows if r["model"] == FASTTEXT}):
        fast = next(r for r in rows if r["model"] == FASTTEXT and r["fraction"] == fraction)
        ours = sorted((r for r in rows if r["model"] in TOOLKIT and r["fraction"] == fraction),
                      key=lambda r: -r["accuracy"])
        quick = [r for r in ours if r["docs_per_second"] >= fast["docs_per_second"] / 3]
        for title, row in (("most accurate", ours[0]),
                           ("most accurate at ≥ ⅓ of its speed", quick[0] if quick else None)):
            if row is None:
                lines.append(f"- {fraction:.0%}, {title}: none")
                continue
            ratio = row["docs_per_second"] / fast["docs_per_second"]
            met = row["accuracy"] > fast["accuracy"] and ratio >= 1 / 3
            lines.append(f"- {fraction:.0%}, {title}: {row['model']} "
                         f"{100 * row['accuracy']:.2f} % at {row['docs_per_second']:,.0f} docs/s "
                         f"vs. fastText {100 * fast['accuracy']:.2f} % at "
                         f"{fast['docs_per_second']:,.0f} docs/s: "
                         f"{100 * (row['accuracy'] - fast['accuracy']):+.2f} points, "
                         f"{ratio:.2f}× its speed: goal {'met' if met else 'not met'}")
    return lines


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--fractions", type=lambda s: [float(v) for v in s.split(",") if v],
                        default=[0.05, 1.0], help="training fractions ('' for none)")
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")],
                        default=[0, 1, 2])
    parser.add_argument("--cnn-fractions", type=lambda s: [float(v) for v in s.split(",") if v],
                        default=[0.05], help="fractions with the CNN arms ('' for none)")
    parser.add_argument("--source", default="saved_models/source-amazon-denil-23d60e4c",
                        help="the cached source CNN of the finetune arm")
    parser.add_argument("--vectors", default="embeddings/adapted-amazon-glove-6b-50d-7b2b23f2"
                        ".w2v.txt", help="word vectors of the finetune CNN")
    parser.add_argument("--models", nargs="*", default=[], metavar="LABEL=PATH",
                        help="more exports to measure")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--append", action="store_true", help="keep the rows of earlier runs "
                        "in --out/peers.json that this run does not measure again")
    args = parser.parse_args()
    models = [tuple(m.split("=", 1)) for m in args.models]
    bad = [m for m, pair in zip(args.models, models) if len(pair) != 2 or not all(pair)]
    if bad:
        parser.error(f"--models takes LABEL=PATH, got {bad}")
    out = Path(args.out)
    if args.append and not (out / "peers.json").is_file():
        parser.error(f"--append: {out / 'peers.json'} does not exist")

    import tensorflow as tf

    from tl_text.atomic import atomic_write
    from tl_text.data import load_imdb
    from tl_text.embeddings.adapt import cnn_words
    from tl_text.plots import pareto_front, pareto_png

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
    run = {"command": command, "started": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
           "load_at_start": uptime()}
    clock = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - clock:7.1f} s] {message}", flush=True)

    rows = []  # none with --fractions '' and no --models: the report is only rewritten
    if args.fractions or models:
        imdb = load_imdb(data_dir=args.data_dir)
    if args.fractions:
        words = {"train": [" ".join(cnn_words(t)) for t in imdb["train"].texts]}
        words["test"], seconds = timed(lambda: [" ".join(cnn_words(t))
                                                for t in imdb["test"].texts])
        log(f"data: {len(imdb['train']):,} train, {len(imdb['test']):,} test reviews; "
            f"fastText preprocessing {len(words['test']) / seconds:,.0f} docs/s")
        with tempfile.TemporaryDirectory() as folder:
            for fraction in args.fractions:
                rows += run_fraction(imdb, words, len(words["test"]) / seconds, fraction,
                                     args, folder, log)
    if models:
        rows += run_exports(imdb, models, args, log)
    rows = [summarise(r) for r in rows]
    run.update(finished=f"{datetime.now(timezone.utc):%H:%M}", load_at_end=uptime(),
               cpus=os.cpu_count(), platform=platform.platform(), tensorflow=tf.__version__,
               batch_size=args.batch_size, repeats=args.repeats)
    earlier = json.loads((out / "peers.json").read_text()) if args.append else {
        "runs": [], "rows": []}  # read now: another run may have written it meanwhile
    measured = {(r["model"], r["fraction"]) for r in rows}
    rows = [r for r in earlier["rows"] if (r["model"], r["fraction"]) not in measured] + rows
    runs = [*earlier["runs"], *([run] if measured else [])]

    atomic_write(out / "peers.json", json.dumps({"runs": runs, "rows": rows},
                                                indent=2).encode())
    points = [{**r, "label": label(r), "group": "other" if r["fraction"] is None else
               f"{r['fraction']:.0%}"} for r in rows]
    groups = dict.fromkeys(p["group"] for p in points)
    fronts = [f"{g}: " + ", ".join(p["label"] for p in pareto_front(
        [p for p in points if p["group"] == g])) for g in groups]
    lines = [*(f"- `{r['command']}`: {r['started']} – {r['finished']} UTC, {r['cpus']} CPUs "
               f"({r['platform']}), TensorFlow {r['tensorflow']}; load at start "
               f"`{r['load_at_start']}`, at end `{r['load_at_end']}`" for r in runs), "",
             *table(rows), "",
             "Accuracy on the 25,000 IMDB test reviews (mean ± std over seeds "
             f"{', '.join(map(str, args.seeds))}; one fit where deterministic).",
             "Pareto front per training-set size: " + "; ".join(fronts) + ".", "",
             "Goal (#17): higher accuracy than fastText at no less than a third of its speed.",
             *goal(rows)]
    atomic_write(out / "peers.md", ("\n".join(lines) + "\n").encode())
    atomic_write(out / "pareto.png", pareto_png(
        points, "IMDB: test accuracy vs. prediction speed (2 CPU threads)"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
