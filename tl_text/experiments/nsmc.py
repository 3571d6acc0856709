"""NSMC (Korean movie reviews): which tokens and which model, scored on the 50,000 test reviews.

Whitespace words are poor units for Korean (particles and endings glue onto stems: 영화는,
영화를, 영화가), so each arm names a model and a token unit, `MODEL:UNIT`:

    models  kim        Kim CNN on `PieceVectorizer` ids, randomly initialised embeddings,
                       early stopping on a validation split of the training reviews
            tfidf-lr   TF-IDF + logistic regression (in-graph TensorFlow)
            nb-lr      NB-weighted logistic regression (in-graph TensorFlow)
            transformer  a pretrained transformer (`pretrained`: a Hugging Face folder, or a
                       hub name when online, e.g. monologg/koelectra-base-v3-discriminator)
                       fine-tuned on every training review with its own tokenizer; no unit
    units   word       whitespace/punctuation words (linear models only)
            char       characters (CNN) or character 1-4-grams within words (linear models)
            wordpiece  a WordPiece vocabulary trained with `tokenizers` on the training
                       reviews; unigrams + bigrams of pieces for the linear models
    A+B     the mean of the arms' probabilities (each listed before it; A+B+C too)

Every model tokenises in its graph, so each arm exports like the English ones. A re-run with
the same config resumes: arms recorded in `out`/results.json are skipped (`--restart`: start
over).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tl_text.classifiers import (CNNClassifier, NBLogisticRegression, TextClassifier,
                                 TfidfLogisticRegression, TransformerTextClassifier)
from tl_text.data import load_nsmc
from tl_text.errors import ConfigError
from tl_text.experiments.report import earlier_results, write_results
from tl_text.experiments.runner import Unit, check_arms, run_units

MODELS = ("kim", "tfidf-lr", "nb-lr", "transformer")
UNITS = ("word", "char", "wordpiece")
DEFAULT_ARMS = ("nb-lr:word", "nb-lr:char", "nb-lr:wordpiece", "nb-lr:char+nb-lr:wordpiece",
                "kim:wordpiece", "kim:wordpiece+nb-lr:char+nb-lr:wordpiece", "kim:char")


@dataclass
class NsmcConfig:
    """Every knob of the experiment; saved with the results."""

    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS), metadata={
        "help": f"comma-separated MODEL:UNIT arms or A+B ensembles "
                f"(default {','.join(DEFAULT_ARMS)})"})
    train_fraction: float = field(default=1.0, metadata={
        "help": "stratified share of the 150,000 training reviews"})
    test_fraction: float = field(default=1.0, metadata={
        "help": "stratified share of the 50,000 test reviews to score on"})
    seed: int = 0
    vocab_size: int = field(default=16000, metadata={"help": "WordPiece vocabulary size"})
    char_vocab_size: int = 3000
    wordpiece_length: int = field(default=64, metadata={
        "help": "pieces per review for the CNN (99 %% of NSMC reviews fit 64)"})
    char_length: int = field(default=140, metadata={
        "help": "characters per review for the CNN (NSMC reviews: <= 140)"})
    embedding_dim: int = 128
    epochs: int = 5
    patience: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation: float = field(default=0.05, metadata={
        "help": "share of the training reviews held out for CNN early stopping"})
    pretrained: str = field(default="monologg/koelectra-base-v3-discriminator", metadata={
        "help": "transformer arm: Hugging Face folder or hub name (online)"})
    max_length: int = field(default=64, metadata={
        "help": "transformer arm: tokens per review, special tokens included"})
    transformer_epochs: int = 2
    transformer_batch_size: int = 32
    transformer_learning_rate: float = 5e-5
    data_dir: str | None = None
    out: str = field(default="runs/nsmc", metadata={"help": "folder for the results"})
    restart: bool = field(default=False, metadata={
        "help": "start over, replacing the results in --out (without it a re-run of the "
                "same config skips the units they record, and another config is refused)"})
    verbose: int = 2


def parse_arm(arm: str) -> tuple[str, str]:
    """"nb-lr:char" -> ("nb-lr", "char"), "transformer" -> ("transformer", "");
    ConfigError for unknown parts."""
    model, _, unit = arm.partition(":")
    if model == "transformer":
        if unit:
            raise ConfigError(f"{arm!r}: the transformer arm takes no unit (it uses the "
                              f"pretrained model's own tokenizer)")
        return model, unit
    if model not in MODELS or unit not in UNITS:
        raise ConfigError(f"unknown arm {arm!r}: expected MODEL:UNIT with MODEL from "
                          f"{', '.join(MODELS)} and UNIT from {', '.join(UNITS)}, or A+B")
    if model == "kim" and unit == "word":
        raise ConfigError("kim:word is the English CNN; for Korean use kim:char or "
                          "kim:wordpiece")
    return model, unit


def make_classifier(arm: str, cfg: NsmcConfig) -> TextClassifier:
    """The unfitted classifier of a `MODEL:UNIT` arm."""
    model, unit = parse_arm(arm)
    if model == "transformer":
        return TransformerTextClassifier(
            cfg.pretrained, cfg.max_length, "head", cfg.transformer_epochs,
            cfg.transformer_batch_size, cfg.transformer_learning_rate, seed=cfg.seed,
            verbose=cfg.verbose)
    if model == "kim":
        size, length = ((cfg.vocab_size, cfg.wordpiece_length) if unit == "wordpiece"
                        else (cfg.char_vocab_size, cfg.char_length))
        return CNNClassifier(
            "kim", vectors=None, tokens=unit, max_tokens=size, sequence_length=length,
            embedding_dim=cfg.embedding_dim, epochs=cfg.epochs, patience=cfg.patience,
            min_epochs=0, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
            validation=cfg.validation, seed=cfg.seed, verbose=cfg.verbose)
    linear = NBLogisticRegression if model == "nb-lr" else TfidfLogisticRegression
    if unit == "char":
        return linear(analyzer="char_wb", ngram_range=(1, 4), strip_accents=None)
    if unit == "wordpiece":
        return linear(analyzer="wordpiece", wordpiece_size=cfg.vocab_size)
    return linear()


def run(cfg: NsmcConfig) -> list[dict]:
    """One result row per arm; also written to `cfg.out`."""
    check_arms(cfg.arms, parse_arm)
    if not 0 < cfg.validation < 1:
        raise ConfigError(f"--validation must be in (0, 1), got {cfg.validation}")
    out = Path(cfg.out)
    earlier = earlier_results(out, asdict(cfg), cfg.restart)
    started = time.perf_counter() - earlier.get("elapsed_seconds", 0)
    nsmc = load_nsmc(data_dir=cfg.data_dir, skip_empty=True)
    train = nsmc["train"].fraction(cfg.train_fraction, seed=cfg.seed)
    test = nsmc["test"].fraction(cfg.test_fraction, seed=0)
    _step(f"data: train {len(train):,}, test {len(test):,}")

    def write(rows, extra):
        return write_results(out, asdict(cfg), rows, summarize(rows),
                             time.perf_counter() - started, **extra)

    units = [Unit(arm, cfg.seed, train) for arm in cfg.arms]
    rows = run_units(units, test, lambda arm, seed: make_classifier(arm, cfg), write, _step,
                     out=out, earlier=earlier)
    print("\n" + summarize(rows))
    _step(f"wrote {cfg.out}/results.{{json,csv,md}}")
    return rows


def summarize(rows: list[dict]) -> str:
    lines = ["| arm | accuracy (%) | epochs | seconds |", "|---|---|---|---|"]
    best = max(r["accuracy"] for r in rows)
    for r in rows:
        acc = f"{100 * r['accuracy']:.2f}"
        lines.append(f"| {r['arm']} | {f'**{acc}**' if r['accuracy'] == best else acc} | "
                     f"{r.get('epochs', '–')} | {r['seconds']} |")
    lines.append(f"\nAccuracy (%) on {rows[0]['test_docs']:,} NSMC test reviews; "
                 f"{rows[0]['train_docs']:,} training reviews, seed {rows[0]['seed']}.")
    return "\n".join(lines)


def _step(message: str) -> None:
    print(f"[nsmc] {message}", flush=True)
