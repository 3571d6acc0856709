"""`tl-text train`: one arm on one dataset — fit, evaluate on held-out data, export.

    tl-text train imdb --fraction 0.05 --model finetune+nb-lr --out saved_models/imdb-best
    tl-text train reviews.csv --text-column body --label-column stars --model nb-lr \\
        --test-split 0.2 --out saved_models/reviews

DATA is a corpus name (its test split is the held-out data) or a CSV/TSV/JSONL file (held
out: `--test FILE`, or a stratified `--test-split` share of DATA). The export's metadata.json
holds the label names, the held-out metrics, the data fingerprint and the full config.
With `--strategy multiworker`, run the same command on every worker (each with its TF_CONFIG);
only the chief exports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tl_text.atomic import check_writable_folder
from tl_text.classifiers.arms import (CNN_MODELS, ArmOptions, Sources, build, fingerprint,
                                     needs_unlabelled, split_spec)
from tl_text.data import TextDataset, load_corpus
from tl_text.errors import ConfigError
from tl_text.evaluation import classification_metrics, format_evaluation
from tl_text.export.savedmodel import load_exported
from tl_text.training.distribute import get_strategy, is_chief, worker_name


@dataclass
class TrainConfig(ArmOptions):
    """What `tl-text train` does; recorded in the export's metadata.json."""

    data: str = field(default="", metadata={
        "positional": True, "help": "corpus name (imdb, nsmc, amazon, books, ...) or a "
                                    "CSV/TSV/JSONL file"})
    spec: str = field(default="nb-lr", metadata={
        "flag": "--model", "help": "an arm (nb-lr, tfidf-lr, kim, denil, glove, amazon-emb, "
                                   "gensim-emb, finetune, bert, bert-transfer, frozen-lr, "
                                   "hub:PATH[:trainable]), self-A (A self-trained) or A+B"})
    out: str = field(default="", metadata={"required": True,
                                           "help": "export base path, e.g. saved_models/NAME"})
    fraction: float = field(default=1.0, metadata={
        "help": "stratified share of the training documents to train on"})
    seed: int = field(default=0, metadata={"help": "sample and initialisation seed"})
    test: str | None = field(default=None, metadata={"help": "held-out file (same columns)"})
    test_split: float = field(default=0.2, metadata={
        "help": "stratified held-out share of DATA when it has no test split and no --test",
        "fraction": True})
    text_column: str | None = field(default=None, metadata={"help": "text column of a table"})
    label_column: str | None = field(default=None, metadata={"help": "label column of a table"})
    labels: list[str] | None = field(default=None, metadata={
        "help": "the raw labels in class order, comma-separated (default: sorted values)"})
    skip_empty: bool = field(default=False, metadata={"help": "drop empty documents"})
    stream: bool = field(default=False, metadata={
        "help": "train a kim/denil CNN from DATA (a file) streamed at constant memory, for "
                "sources too large for memory; needs --test"})
    verify_export: bool = field(default=False, metadata={
        "help": "reload the export and compare its probabilities on the held-out documents "
                "with the in-memory model's"})
    verbose: int = 0


def load_data(cfg: TrainConfig) -> tuple[TextDataset, TextDataset, list[str]]:
    """(training documents at `fraction`, held-out documents, unlabelled texts) for the
    config. The unlabelled texts, read only for arms that use them (self-A, gensim-emb) and
    no `--unlabelled`, are the corpus's unsup split and the documents `fraction` leaves out."""
    options = {"text_column": cfg.text_column, "label_column": cfg.label_column,
               "labels": cfg.labels}
    wanted = needs_unlabelled(split_spec(cfg.spec), cfg)
    splits = load_corpus(cfg.data, data_dir=cfg.data_dir, skip_empty=cfg.skip_empty,
                         unlabelled=wanted, **options)
    unsup = splits.pop("unsup", None)
    if cfg.test is not None:
        train = splits.get("train") or _only(splits, cfg.data)
        test = _only(load_corpus(cfg.test, data_dir=cfg.data_dir, skip_empty=cfg.skip_empty,
                                 **options), cfg.test)
    elif "train" in splits and "test" in splits:
        train, test = splits["train"], splits["test"]
    else:
        train, test = _only(splits, cfg.data).split(cfg.test_split, seed=0)
        test = replace(test, name=f"{cfg.data} (held-out {cfg.test_split:g})")
    if tuple(test.label_names) != tuple(train.label_names):
        raise ConfigError(f"{cfg.test}: labels {list(test.label_names)} differ from the "
                          f"training labels {list(train.label_names)}; pass --labels")
    sample = train.fraction(cfg.fraction, seed=cfg.seed)
    unlabelled = []
    if wanted:
        chosen = set(sample.ids)
        unlabelled = [*(unsup.texts if unsup else []),
                      *(t for i, t in zip(train.ids, train.texts) if i not in chosen)]
    return sample, test, unlabelled


def run(cfg: TrainConfig) -> dict:
    """Fit `cfg.spec`, evaluate it on the held-out data, export it; the metrics."""
    split_spec(cfg.spec)
    strategy = get_strategy(cfg.strategy)  # a multiworker strategy must exist before any TF op
    if not 0 < cfg.test_split < 1:
        raise ConfigError(f"--test-split must be in (0, 1), got {cfg.test_split:g}")
    check_writable_folder(cfg.out)
    if cfg.stream:
        classifier, test, training_data = _fit_streamed(cfg)
    else:
        train, test, unlabelled = load_data(cfg)
        _step(f"data: {len(train):,} training documents {train.class_counts()}, "
              f"{len(test):,} held out")
        classifier = build(cfg.spec, cfg, cfg.seed, Sources(cfg, log=_step, exclude=test.texts,
                                                              unlabelled=unlabelled))
        started = time.perf_counter()
        classifier.fit(train)
        _step(f"fitted {cfg.spec} in {time.perf_counter() - started:.1f} s")
        training_data = {"name": train.name, "documents": len(train),
                         "fingerprint": fingerprint(train)}
    started = time.perf_counter()
    probabilities = classifier.predict_proba(test.texts)
    seconds = time.perf_counter() - started
    metrics = classification_metrics(test.labels, probabilities.argmax(axis=1),
                                     test.label_names)
    metrics.update(data=test.name, documents=len(test),
                   docs_per_second=round(len(test) / max(seconds, 1e-9), 1))
    if not is_chief(strategy):
        _step(f"{worker_name(strategy)}: the chief exports the model; nothing written here")
        return metrics
    folder = classifier.export(cfg.out, metadata={
        "metrics": metrics, "config": asdict(cfg),
        "training_data": training_data,
        "test_data": {"name": test.name, "documents": len(test),
                      "fingerprint": fingerprint(test)}})
    print(format_evaluation({**metrics, "model": str(folder)}))
    _step(f"exported {folder}")
    if cfg.verify_export:
        exported = load_exported(folder).predict_columns(test.texts)["probabilities"]
        metrics["export_max_difference"] = float(np.abs(np.asarray(exported)
                                                        - probabilities).max())
        _step(f"export check: the SavedModel's probabilities on the {len(test):,} held-out "
              f"documents differ from the in-memory ones by at most "
              f"{metrics['export_max_difference']:.1e}")
    return metrics


def _fit_streamed(cfg: TrainConfig):
    """(a CNN trained from `cfg.data` streamed, the --test documents, what it trained on)."""
    if cfg.spec not in CNN_MODELS or cfg.test is None or cfg.fraction != 1:
        raise ConfigError(f"--stream trains {' or '.join(CNN_MODELS)} from a file, with "
                          "--test and no --fraction")
    options = {"text_column": cfg.text_column, "label_column": cfg.label_column,
               "labels": cfg.labels}
    test = _only(load_corpus(cfg.test, data_dir=cfg.data_dir, skip_empty=cfg.skip_empty,
                             **options), cfg.test)
    classifier = build(cfg.spec, cfg, cfg.seed, Sources(cfg, log=_step, exclude=test.texts))
    started = time.perf_counter()
    reader_options = {k: v for k, v in options.items() if v is not None}
    classifier.fit_stream([cfg.data], skip_empty=cfg.skip_empty, **reader_options)
    _step(f"fitted {cfg.spec} streamed from {cfg.data} in "
          f"{time.perf_counter() - started:.1f} s")
    if tuple(test.label_names) != tuple(classifier.label_names_):
        raise ConfigError(f"{cfg.test}: labels {list(test.label_names)} differ from the "
                          f"training labels {list(classifier.label_names_)}; pass --labels")
    return classifier, test, {"name": cfg.data, "streamed": True}


def _only(splits: dict[str, TextDataset], source: str) -> TextDataset:
    if len(splits) != 1:
        raise ConfigError(f"{source} has splits {sorted(splits)}: name one file for training")
    return next(iter(splits.values()))


def _step(message: str) -> None:
    print(f"[train] {message}", flush=True)
