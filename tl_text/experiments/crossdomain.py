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

Models: the arms `denil` or `kim` (a CNN on trainable GloVe, early stopping on a 10 %
validation split of the training reviews), `tfidf-lr`, `nb-lr` (`tl_text.classifiers.arms`).
A re-run with the same config resumes where it stopped (`--restart`: start over).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tl_text.classifiers.arms import ArmOptions, Sources, build
from tl_text.data import TextDataset, concat, load_corpus
from tl_text.data.corpora import BLITZER_ALIASES
from tl_text.data.paths import data_root
from tl_text.errors import ConfigError, DataError
from tl_text.experiments.report import earlier_results, results_folder, write_results
from tl_text.training.distribute import get_strategy
from tl_text.experiments.runner import Unit, run_units
from tl_text.plots import accuracy_heatmaps_png
from tl_text.training import accuracy

DOMAINS = ("imdb", "books", "dvd", "electronics", "kitchen", "amazon")
BLITZER = ("books", "dvd", "electronics", "kitchen")
MODELS = ("denil", "kim", "tfidf-lr", "nb-lr")
ALL = "ALL"


@dataclass
class CrossDomainConfig(ArmOptions):
    """Every knob of the experiment (the models' own in `ArmOptions`); saved with the results."""

    domains: list[str] = field(default_factory=lambda: list(DOMAINS[:5]), metadata={
        "help": f"comma-separated, from {','.join(DOMAINS)}"})
    models: list[str] = field(default_factory=lambda: ["denil"], metadata={
        "flag": "--model", "help": f"comma-separated, from {','.join(MODELS)}; one matrix each"})
    seeds: int = field(default=1, metadata={
        "help": "training runs per cell (initialisation, validation split)"})
    train_size: int = field(default=1600, metadata={
        "help": "training reviews per domain, stratified"})
    test_size: int = field(default=400, metadata={
        "help": "held-out reviews per domain, stratified"})
    out: str = field(default="runs/crossdomain", metadata={"help": "folder for the results"})
    restart: bool = field(default=False, metadata={
        "help": "start over, replacing the results in --out (without it a re-run of the "
                "same config skips the units they record, and another config is refused)"})
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

def run(cfg: CrossDomainConfig) -> list[dict]:
    """Every (model, train domain, test domain, seed) accuracy; also written to `cfg.out`."""
    unknown = [m for m in cfg.models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(MODELS)}")
    for option in ("seeds", "train_size", "test_size"):
        if getattr(cfg, option) < 1:
            raise ConfigError(f"--{option.replace('_', '-')} must be at least 1")
    # a multiworker strategy must exist before any TF op
    out = results_folder(cfg.out, get_strategy(cfg.strategy))
    earlier = earlier_results(out, asdict(cfg), cfg.restart)
    started = time.perf_counter() - earlier.get("elapsed_seconds", 0)
    domains = load_domains(cfg.domains, cfg.train_size, cfg.test_size, cfg.data_dir)
    for d in domains:
        _step(f"data: {d.name}: train {_counts(d.train)}, held-out {_counts(d.test)}")
    tests = concat("held-out", [d.test for d in domains])
    bounds = np.cumsum([0] + [len(d.test) for d in domains])
    sources = [(d.name, d.train) for d in domains]
    sources.append((ALL, concat(ALL, [d.train for d in domains])))
    units = [Unit(model, seed, train, {"train": source}) for model in cfg.models
             for seed in range(cfg.seeds) for source, train in sources]

    def rows_of(unit: Unit, probs: np.ndarray, info: dict) -> list[dict]:
        return [{"model": unit.arm, "train": unit.group["train"], "test": target.name,
                 "seed": unit.seed, "accuracy": accuracy(probs[lo:hi], target.test.labels),
                 "train_docs": len(unit.train), "test_docs": len(target.test),
                 "epochs": info.get("epochs", ""), "seconds": info["seconds"]}
                for target, lo, hi in zip(domains, bounds[:-1], bounds[1:])]

    def write(rows, extra):
        found = matrices(rows)
        return write_results(out, asdict(cfg), rows, summarize(rows),
                             time.perf_counter() - started, accuracy_heatmaps_png(found),
                             matrices=found, **extra)

    no_sources = Sources(cfg, log=_step)  # these models transfer from nothing
    rows = run_units(units, tests, lambda arm, seed: build(arm, cfg, seed, no_sources), write,
                     _step, rows_of, out=out, earlier=earlier)
    print("\n" + summarize(rows))
    _step(f"wrote {out}/results.{{json,csv,md,png}}")
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
