"""Amazon → IMDB transfer: does a large labelled source domain rescue a low-data target?

Each arm (`tl_text.classifiers.arms`) is trained on a stratified IMDB training fraction and
scored on the 25,000 test reviews, for every fraction and seed. The source CNN (trained once
on every Amazon review, GloVe-initialised, embeddings trainable) is cached in `models_dir`
and its tuned vectors in `embeddings_dir`. Default arms: the three CNN arms (glove,
amazon-emb, finetune), the two linear baselines and two ensembles (glove+nb-lr vs.
finetune+nb-lr shows what transfer adds on top of the best baseline). CNN arms hold out a
validation split of the fraction for early stopping; transformer arms train on all of it for
a fixed number of epochs.

A re-run with the same config resumes: the (fraction, seed, arm) units recorded in
`out`/results.json are skipped (so a re-run with more arms, seeds or fractions runs only the
new units). Results of another config there are refused unless `--restart` (start over).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tl_text.classifiers.arms import (ArmOptions, Sources, build, needs_unlabelled,
                                     split_spec)
from tl_text.data import load_imdb
from tl_text.errors import ConfigError
from tl_text.experiments.report import (accuracy_plot, accuracy_table, earlier_results,
                                        results_folder, write_results)
from tl_text.training.distribute import get_strategy
from tl_text.experiments.runner import Unit, check_arms, run_units

DEFAULT_ARMS = ("glove", "amazon-emb", "finetune", "tfidf-lr", "nb-lr", "glove+nb-lr",
                "finetune+nb-lr")


@dataclass
class TransferConfig(ArmOptions):
    """Every knob of the experiment (the arms' own in `ArmOptions`); saved with the results."""

    fractions: list[float] = field(default_factory=lambda: [0.05], metadata={
        "flag": "--fraction", "help": "IMDB training fraction(s), comma-separated for a sweep "
                                      "(default 0.05 = 1,250 reviews)"})
    seeds: int = field(default=3, metadata={"help": "seeds per arm (sample and initialisation)"})
    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS), metadata={
        "help": f"comma-separated arms or A+B ensembles (default {','.join(DEFAULT_ARMS)})"})
    test_fraction: float = field(default=1.0, metadata={
        "help": "stratified share of the 25,000 test reviews to score on"})
    out: str = field(default="runs/transfer", metadata={"help": "folder for the results"})
    restart: bool = field(default=False, metadata={
        "help": "start over, replacing the results in --out (without it a re-run of the "
                "same config skips the units they record, and another config is refused)"})
    verbose: int = 2


def run(cfg: TransferConfig) -> list[dict]:
    """Every (fraction, arm, seed) result row; also written to `cfg.out`."""
    check_arms(cfg.arms, split_spec)
    if cfg.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {cfg.seeds}")
    # a multiworker strategy must exist before any TF op
    out = results_folder(cfg.out, get_strategy(cfg.strategy))
    earlier = earlier_results(out, asdict(cfg), cfg.restart)
    started = time.perf_counter() - earlier.get("elapsed_seconds", 0)
    wanted = needs_unlabelled(cfg.arms, cfg)
    _step("data: reading IMDB")
    imdb = load_imdb(("train", "test", "unsup")[:2 + wanted], data_dir=cfg.data_dir)
    test = imdb["test"].fraction(cfg.test_fraction, seed=0)
    # self-trained arms and adapted vectors learn from the unsup reviews and the training
    # reviews a fraction leaves out (a self-trained arm drops those in its fraction)
    unlabelled = [*imdb["unsup"].texts, *imdb["train"].texts] if wanted else []
    sources = Sources(cfg, log=_step, exclude=imdb["test"].texts, unlabelled=unlabelled)
    if any(part in ("amazon-emb", "finetune") for arm in cfg.arms for part in arm.split("+")):
        sources.cnn()  # before the first unit, so that its time is not an arm's
    units = [Unit(arm, seed, imdb["train"].fraction(fraction, seed=seed), {"fraction": fraction})
             for fraction in cfg.fractions for seed in range(cfg.seeds) for arm in cfg.arms]

    def write(rows, extra):
        return write_results(out, asdict(cfg), rows, accuracy_table(rows, "IMDB"),
                             time.perf_counter() - started, accuracy_plot(rows, "IMDB"), **extra)

    rows = run_units(units, test, lambda arm, seed: build(arm, cfg, seed, sources), write,
                     lambda message: _step(f"target: {message}"), out=out, earlier=earlier)
    print("\n" + accuracy_table(rows, "IMDB"))
    _step(f"wrote {out}/results.{{json,csv,md,png}}")
    return rows


def _step(message: str) -> None:
    print(f"[transfer] {message}", flush=True)
