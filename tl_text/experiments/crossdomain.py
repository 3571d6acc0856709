"""Cross-domain generalisation: train on review domain A, test on every domain B.

One model per domain plus an ALL model (every domain's training reviews together), each
scored on every domain's held-out reviews; the result is a train × test accuracy matrix per
model, with the in-domain vs. out-of-domain drop of every row.

Domains and their fixed, stratified splits (seed 0, independent of `--seeds`):

    imdb         held-out: a stratified `test_size` sample of the official test split;
                 training: a stratified `train_size` sample of the official train split
    books, dvd,  Blitzer et al. (2007), 1,000 positive + 1,000 negative each: `test_size`
    electronics, held out stratified, training: a stratified `train_size` sample of the rest
    kitchen      (defaults 400 / 1,600: every review, Blitzer's own protocol)
    amazon       the Amazon polarity reviews (`*.ft.txt*`, `*.csv` in `<data root>/amazon/`,
                 not the Blitzer archive, whose reviews are the four domains above), split
                 like a Blitzer domain

Models: `denil` or `kim` (the transfer experiment's CNN on trainable GloVe, early stopping on
a 10 % validation split of the training reviews), `tfidf-lr`, `nb-lr`.
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tl_text import cli
from tl_text.data import TextDataset, concat, load_corpus
from tl_text.data.corpora import BLITZER_ALIASES
from tl_text.data.paths import data_root
from tl_text.errors import ConfigError, DataError
from tl_text.experiments.report import write_files

DOMAINS = ("imdb", "books", "dvd", "electronics", "kitchen", "amazon")
BLITZER = ("books", "dvd", "electronics", "kitchen")
MODELS = ("denil", "kim", "tfidf-lr", "nb-lr")
CNN_MODELS = ("denil", "kim")
ALL = "ALL"


@dataclass
class CrossDomainConfig:
    """Every knob of the experiment; saved next to the results."""

    domains: list[str] = field(default_factory=lambda: list(DOMAINS[:5]))
    models: list[str] = field(default_factory=lambda: ["denil"])
    seeds: int = 1
    train_size: int = 1600
    test_size: int = 400
    epochs: int = 20
    patience: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-3
    vectors: str = "glove-6b-50d"
    data_dir: str | None = None
    out: str = "runs/crossdomain"
    verbose: int = 2


@dataclass
class Domain:
    name: str
    train: TextDataset
    test: TextDataset


# --- data -----------------------------------------------------------------------------------

def load_domains(names: list[str], train_size: int, test_size: int,
                 data_dir=None) -> list[Domain]:
    """Each domain's fixed stratified training sample and held-out reviews (see the module
    docstring); the Blitzer archive is read once for all four of its domains."""
    _check_domains(names)
    blitzer = {}
    if set(names) & set(BLITZER):
        blitzer = load_corpus("blitzer", data_dir=data_dir)
    out = []
    for name in names:
        if name == "imdb":
            imdb = load_corpus("imdb", data_dir=data_dir)
            pool, test = imdb["train"], _sample(imdb["test"], test_size, "imdb/test")
        else:
            reviews = _amazon_polarity(data_dir) if name == "amazon" \
                else blitzer[BLITZER_ALIASES.get(name, name)]
            pool, test = _hold_out(reviews, test_size, name)
        out.append(Domain(name, _sample(pool, train_size, f"{name}/train"), test))
    return out


def _amazon_polarity(data_dir) -> TextDataset:
    folder = data_root(data_dir) / "amazon"
    files = [p for p in sorted(folder.iterdir()) if ".ft.txt" in p.name or
             p.name.endswith((".csv", ".csv.gz", ".csv.bz2"))] if folder.is_dir() else []
    if not files:
        raise DataError(folder, "no Amazon polarity files (*.ft.txt*, *.csv) for the "
                                "amazon domain")
    return concat("amazon", [load_corpus(str(p))["all"] for p in files])


def _hold_out(reviews: TextDataset, test_size: int, name: str) -> tuple[TextDataset, TextDataset]:
    """(rest, held-out): about `test_size` reviews, stratified, fixed by seed 0."""
    if test_size >= len(reviews):
        raise ConfigError(f"{name}: --test-size {test_size} leaves no training reviews "
                          f"({len(reviews):,} in all)")
    rest, test = reviews.split(validation=test_size / len(reviews), seed=0)
    return rest, replace(test, name=f"{name}/test")


def _sample(reviews: TextDataset, size: int, name: str) -> TextDataset:
    """A stratified sample of about `size` reviews (all of them when there are fewer)."""
    sample = reviews.fraction(min(1.0, size / len(reviews)), seed=0)
    return replace(sample, name=name)


def _check_domains(names: list[str]) -> None:
    unknown = [n for n in names if n not in DOMAINS]
    if unknown:
        raise ConfigError(f"unknown domain(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(DOMAINS)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"need at least two different domains, got {','.join(names)}")


# --- training and scoring -------------------------------------------------------------------

def train_and_score(model: str, cfg: CrossDomainConfig, train: TextDataset,
                    tests: TextDataset, seed: int, glove) -> tuple[np.ndarray, dict]:
    """Train `model` on `train`; its probabilities on `tests` and training notes.

    Reuses the transfer experiment's arms: a CNN on GloVe (its "glove" arm) or a baseline.
    """
    from tl_text.experiments.transfer import TransferConfig, run_cnn_arm, run_linear_arm

    if model not in CNN_MODELS:
        return run_linear_arm(model, train, tests)
    transfer_cfg = replace(TransferConfig(), model=model, epochs=cfg.epochs,
                           patience=cfg.patience, batch_size=cfg.batch_size,
                           learning_rate=cfg.learning_rate, vectors=cfg.vectors,
                           verbose=cfg.verbose)
    return run_cnn_arm("glove", transfer_cfg, train, tests, seed, glove, None, None)


def run(cfg: CrossDomainConfig) -> list[dict]:
    """Every (model, train domain, test domain, seed) accuracy; also written to `cfg.out`."""
    from tl_text.training import accuracy

    unknown = [m for m in cfg.models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(MODELS)}")
    started = time.perf_counter()
    domains = load_domains(cfg.domains, cfg.train_size, cfg.test_size, cfg.data_dir)
    for d in domains:
        _step(f"data: {d.name}: train {_counts(d.train)}, held-out {_counts(d.test)}")
    glove = None
    if set(cfg.models) & set(CNN_MODELS):
        from tl_text.embeddings import load_vectors
        glove = load_vectors(cfg.vectors)

    tests = concat("held-out", [d.test for d in domains])
    bounds = np.cumsum([0] + [len(d.test) for d in domains])
    sources = [(d.name, d.train) for d in domains]
    sources.append((ALL, concat(ALL, [d.train for d in domains])))
    rows = []
    for model in cfg.models:
        for seed in range(cfg.seeds):
            for source, train in sources:
                _step(f"{model}: training on {source} ({len(train):,} reviews), seed {seed}")
                t0 = time.perf_counter()
                probs, info = train_and_score(model, cfg, train, tests, seed, glove)
                seconds = round(time.perf_counter() - t0, 1)
                for i, target in enumerate(domains):
                    part = slice(bounds[i], bounds[i + 1])
                    rows.append({"model": model, "train": source, "test": target.name,
                                 "seed": seed, "accuracy": accuracy(probs[part],
                                                                    target.test.labels),
                                 "train_docs": len(train), "test_docs": len(target.test),
                                 "epochs": info.get("epochs", ""), "seconds": seconds})
                _step(f"{model} on {source}: " + ", ".join(
                    f"{r['test']} {100 * r['accuracy']:.1f}" for r in rows[-len(domains):])
                    + f" ({seconds} s)")
    summary = summarize(rows)
    print("\n" + summary)
    paths = write_results(Path(cfg.out), asdict(cfg), rows, summary,
                          time.perf_counter() - started)
    _step("wrote " + ", ".join(map(str, paths)))
    return rows


def _counts(ds: TextDataset) -> str:
    return f"{len(ds):,} ({', '.join(f'{k} {v}' for k, v in ds.class_counts().items())})"


def _step(message: str) -> None:
    print(f"[crossdomain] {message}", flush=True)


# --- report ---------------------------------------------------------------------------------

def matrices(rows: list[dict]) -> dict[str, dict]:
    """Per model: train names, test names, mean/std accuracy matrices [train, test] and the
    per-row in-domain, mean out-of-domain accuracy and drop (in − out); ALL has no drop."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        trains = list(dict.fromkeys(r["train"] for r in mine))
        tests = list(dict.fromkeys(r["test"] for r in mine))
        acc = np.full((len(trains), len(tests)), np.nan)
        std = np.full_like(acc, np.nan)
        for i, a in enumerate(trains):
            for j, b in enumerate(tests):
                values = [r["accuracy"] for r in mine if r["train"] == a and r["test"] == b]
                acc[i, j], std[i, j] = np.mean(values), np.std(values)
        drops = []
        for i, a in enumerate(trains):
            if a in tests:
                inside = acc[i, tests.index(a)]
                outside = float(np.mean([acc[i, j] for j, b in enumerate(tests) if b != a]))
                drops.append({"train": a, "in_domain": float(inside),
                              "out_of_domain": outside, "drop": float(inside - outside)})
            else:
                drops.append({"train": a, "in_domain": float(np.mean(acc[i])),
                              "out_of_domain": None, "drop": None})
        seeds = len({r["seed"] for r in mine})
        out[model] = {"train": trains, "test": tests, "accuracy": acc.tolist(),
                      "std": std.tolist(), "rows": drops, "seeds": seeds}
    return out


def summarize(rows: list[dict]) -> str:
    """One Markdown matrix per model (accuracy %, diagonal in bold) with the drop columns."""
    sizes = {r["test"]: r["test_docs"] for r in rows}
    parts = []
    for model, m in matrices(rows).items():
        tests = m["test"]
        lines = [f"**{model}** (mean over {m['seeds']} seed(s))", "",
                 f"| train \\ test | {' | '.join(tests)} | in-domain | out-of-domain | drop |",
                 "|---" * (len(tests) + 4) + "|"]
        for name, accs, row in zip(m["train"], m["accuracy"], m["rows"]):
            cells = [f"**{100 * a:.1f}**" if t == name else f"{100 * a:.1f}"
                     for t, a in zip(tests, accs)]
            if row["drop"] is None:
                tail = [f"{100 * row['in_domain']:.1f} (mean)", "–", "–"]
            else:
                tail = [f"{100 * row['in_domain']:.1f}", f"{100 * row['out_of_domain']:.1f}",
                        f"{100 * row['drop']:+.1f}"]
            lines.append(f"| {name} | {' | '.join(cells + tail)} |")
        specialists = [r["in_domain"] for r in m["rows"] if r["drop"] is not None]
        everything = [r["in_domain"] for r in m["rows"] if r["drop"] is None]
        if specialists and everything:
            lines.append(f"\nALL vs. the in-domain models: {100 * everything[0]:.1f} vs. "
                         f"{100 * np.mean(specialists):.1f} mean accuracy "
                         f"({100 * (everything[0] - np.mean(specialists)):+.1f}).")
        parts.append("\n".join(lines))
    held = ", ".join(f"{t} {n:,}" for t, n in sizes.items())
    parts.append(f"Accuracy (%) on each domain's held-out reviews ({held}); drop = in-domain "
                 "minus mean out-of-domain accuracy.")
    return "\n\n".join(parts)


def write_results(out: Path, config: dict, rows: list[dict], summary: str,
                  elapsed: float) -> list[Path]:
    """results.json, results.csv, results.md and results.png (heatmaps) in `out`."""
    payload = {"config": config, "elapsed_seconds": round(elapsed, 1), "rows": rows,
               "matrices": matrices(rows)}
    return write_files(out, payload, rows, summary, heatmaps(rows))


def heatmaps(rows: list[dict]) -> bytes:
    """PNG: one annotated train × test accuracy heatmap per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = matrices(rows)
    fig, axes = plt.subplots(1, len(found), figsize=(5.2 * len(found), 4.4), dpi=110,
                             squeeze=False)
    for ax, (model, m) in zip(axes[0], found.items()):
        acc = 100 * np.array(m["accuracy"])
        low = max(50.0, acc.min() - 5)
        image = ax.imshow(acc, cmap="viridis", vmin=low, vmax=100)
        ax.set_xticks(range(len(m["test"])), m["test"], rotation=30, ha="right")
        ax.set_yticks(range(len(m["train"])), m["train"])
        for (i, j), value in np.ndenumerate(acc):
            bold = m["train"][i] == m["test"][j]
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if value < (low + 100) / 2 else "black",
                    fontweight="bold" if bold else "normal")
        ax.set_xlabel("test domain")
        ax.set_ylabel("train domain")
        ax.set_title(f"{model}: accuracy (%)")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


# --- command line ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = CrossDomainConfig()
    parser.add_argument("--domains", type=_names, default=defaults.domains,
                        help=f"comma-separated, from {','.join(DOMAINS)} "
                             f"(default {','.join(defaults.domains)})")
    parser.add_argument("--model", type=_names, default=defaults.models, dest="models",
                        help=f"comma-separated, from {','.join(MODELS)}; one matrix each "
                             f"(default {','.join(defaults.models)})")
    parser.add_argument("--seeds", type=int, default=defaults.seeds,
                        help="training runs per cell (initialisation, validation split)")
    parser.add_argument("--train-size", type=int, default=defaults.train_size,
                        help="training reviews per domain, stratified")
    parser.add_argument("--test-size", type=int, default=defaults.test_size,
                        help="held-out reviews per domain, stratified")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="max CNN epochs (early stopping on a validation split)")
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--vectors", default=defaults.vectors,
                        help="glove-6b-50d (packaged) or a GloVe/word2vec file")
    cli.add_run_options(parser, defaults.out)


def run_from_args(args: argparse.Namespace) -> list[dict]:
    cfg = cli.config_from_args(CrossDomainConfig(), args)
    for option in ("seeds", "train_size", "test_size"):
        if getattr(cfg, option) < 1:
            raise ConfigError(f"--{option.replace('_', '-')} must be at least 1")
    return run(cfg)


def _names(text: str) -> list[str]:
    return [name.strip().lower() for name in text.split(",") if name.strip()]
