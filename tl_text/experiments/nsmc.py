"""NSMC (Korean movie reviews): which tokens and which model, scored on the 50,000 test reviews.

Whitespace words are poor units for Korean (particles and endings glue onto stems: 영화는,
영화를, 영화가), so each arm names a model and a token unit, `MODEL:UNIT`:

    models  kim        Kim CNN on `PieceVectorizer` ids, randomly initialised embeddings,
                       early stopping on a validation split of the training reviews
            tfidf-lr   TF-IDF + logistic regression (tl_text.models.linear)
            nb-lr      NB-weighted logistic regression (tl_text.models.linear)
            transformer  a pretrained transformer (`--pretrained`: a Hugging Face folder, or a
                       hub name when online, e.g. monologg/koelectra-base-v3-discriminator)
                       fine-tuned on every training review with its own tokenizer; no unit
    units   word       whitespace/punctuation words (linear models only)
            char       characters (CNN) or character 1-4-grams within words (linear models)
            wordpiece  a WordPiece vocabulary trained with `tokenizers` on the training
                       reviews; unigrams + bigrams of pieces for the linear models
    A+B     the mean of the arms' probabilities (each listed before it; A+B+C too)

The WordPiece tokenizer is written to `<out>/tokenizer.json`; the results are rewritten after
every arm, so a stopped run keeps the arms it finished.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tl_text import cli
from tl_text.data import TextDataset, load_nsmc
from tl_text.errors import ConfigError
from tl_text.experiments.report import write_files

MODELS = ("kim", "tfidf-lr", "nb-lr", "transformer")
UNITS = ("word", "char", "wordpiece")
DEFAULT_ARMS = ("nb-lr:word", "nb-lr:char", "nb-lr:wordpiece", "nb-lr:char+nb-lr:wordpiece",
                "kim:wordpiece", "kim:wordpiece+nb-lr:char+nb-lr:wordpiece", "kim:char")


@dataclass
class NsmcConfig:
    """Every knob of the experiment; saved next to the results."""

    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))
    train_fraction: float = 1.0
    test_fraction: float = 1.0
    seed: int = 0
    vocab_size: int = 16000
    char_vocab_size: int = 3000
    wordpiece_length: int = 64
    char_length: int = 140
    embedding_dim: int = 128
    epochs: int = 5
    patience: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation: float = 0.05
    pretrained: str = "monologg/koelectra-base-v3-discriminator"
    max_length: int = 64
    transformer_epochs: int = 2
    transformer_batch_size: int = 32
    transformer_learning_rate: float = 5e-5
    data_dir: str | None = None
    out: str = "runs/nsmc"
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


def check_arms(arms: list[str]) -> None:
    """Known arms; an ensemble A+B needs A and B listed before it."""
    for i, arm in enumerate(arms):
        parts = arm.split("+")
        for part in parts:
            parse_arm(part)
        if len(parts) > 1 and not set(parts) <= set(arms[:i]):
            raise ConfigError(f"ensemble {arm!r} needs {' and '.join(parts)} listed before it")


# --- arms -----------------------------------------------------------------------------------

def linear_model(model: str, unit: str):
    """The tl_text baseline `model` with its n-gram features set for `unit`.

    "wordpiece" expects pre-tokenised input: pieces joined by spaces (see `_linear_texts`).
    """
    from tl_text.models.linear import NBLogisticRegression, tfidf_lr

    classifier = tfidf_lr() if model == "tfidf-lr" else NBLogisticRegression()
    features = classifier.steps[0][1] if model == "tfidf-lr" else classifier.vectorizer
    if unit == "char":
        features.set_params(analyzer="char_wb", ngram_range=(1, 4), strip_accents=None,
                            token_pattern=None)
    elif unit == "wordpiece":
        features.set_params(token_pattern=r"\S+", lowercase=False, strip_accents=None)
    return classifier


def run_linear(model: str, unit: str, train: TextDataset, test: TextDataset,
               vectorizer) -> tuple[np.ndarray, dict]:
    classifier = linear_model(model, unit)
    classifier.fit(_linear_texts(train.texts, unit, vectorizer), train.labels)
    return classifier.predict_proba(_linear_texts(test.texts, unit, vectorizer)), {}


def _linear_texts(texts: list[str], unit: str, vectorizer) -> list[str]:
    if unit != "wordpiece":
        return texts
    return [" ".join(pieces) for pieces in vectorizer.pieces(texts)]


def run_cnn(cfg: NsmcConfig, fit_train: TextDataset, valid: TextDataset, test: TextDataset,
            vectorizer) -> tuple[np.ndarray, dict]:
    """Kim CNN on the vectoriser's ids; its test probabilities and training notes."""
    import tf_keras

    from tl_text.models import kim_cnn
    from tl_text.training import fit, predict_proba

    tf_keras.utils.set_random_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    matrix = rng.normal(scale=0.05, size=(vectorizer.vocabulary_size(), cfg.embedding_dim))
    matrix[0] = 0
    model = kim_cnn(vectorizer, matrix.astype(np.float32), trainable_embeddings=True)
    result = fit(model, fit_train, valid, cfg.epochs, cfg.batch_size, cfg.learning_rate,
                 cfg.patience, seed=cfg.seed, verbose=cfg.verbose)
    return predict_proba(model, test.texts), {
        "epochs": result.best_epoch + 1, "seconds_per_epoch": round(result.seconds_per_epoch, 1),
        "notes": f"{vectorizer.vocabulary_size():,} {vectorizer.unit} tokens, "
                 f"length {vectorizer.sequence_length}"}


def run_transformer(cfg: NsmcConfig, train: TextDataset,
                    test: TextDataset) -> tuple[np.ndarray, dict]:
    """Fine-tune `cfg.pretrained` on `train` for a fixed number of epochs."""
    from tl_text.models.transformer import TransformerClassifier
    from tl_text.training.transformer_fit import fit_transformer

    classifier = TransformerClassifier.from_pretrained(cfg.pretrained, train.label_names,
                                                       cfg.max_length)
    result = fit_transformer(classifier, train, None, cfg.transformer_epochs,
                             cfg.transformer_batch_size, cfg.transformer_learning_rate,
                             seed=cfg.seed, verbose=cfg.verbose)
    return classifier.predict_proba(test.texts), {
        "epochs": cfg.transformer_epochs,
        "seconds_per_epoch": round(result.seconds_per_epoch, 1), "notes": cfg.pretrained}


def vectorizer_for(unit: str, cfg: NsmcConfig, texts: list[str]):
    """The `PieceVectorizer` for `unit`, learnt on `texts`; a WordPiece tokenizer is saved."""
    from tl_text.models.subword import make_piece_vectorizer, save_tokenizer

    size, length = ((cfg.vocab_size, cfg.wordpiece_length) if unit == "wordpiece"
                    else (cfg.char_vocab_size, cfg.char_length))
    vectorizer, tokenizer = make_piece_vectorizer(texts, unit, size, length)
    if tokenizer is not None:
        _step(f"tokenizer: saved {save_tokenizer(tokenizer, Path(cfg.out) / 'tokenizer.json')}")
    return vectorizer


# --- the whole experiment -------------------------------------------------------------------

def run(cfg: NsmcConfig) -> list[dict]:
    """One result row per arm; also written to `cfg.out`."""
    from tl_text.training import accuracy

    check_arms(cfg.arms)
    started = time.perf_counter()
    nsmc = load_nsmc(data_dir=cfg.data_dir, skip_empty=True)
    train = nsmc["train"].fraction(cfg.train_fraction, seed=cfg.seed)
    test = nsmc["test"].fraction(cfg.test_fraction, seed=0)
    fit_train, valid = train.split(cfg.validation, seed=cfg.seed)
    _step(f"data: train {len(train):,} ({len(fit_train):,} + {len(valid):,} validation for "
          f"the CNN), test {len(test):,}")

    vectorizers, probabilities, rows = {}, {}, []
    for arm in cfg.arms:
        t0 = time.perf_counter()
        if "+" in arm:
            probs, info = np.mean([probabilities[a] for a in arm.split("+")], axis=0), {}
        else:
            model, unit = parse_arm(arm)
            if unit in ("char", "wordpiece") and unit not in vectorizers:
                vectorizers[unit] = vectorizer_for(unit, cfg, train.texts)
            _step(f"{arm}: training")
            if model == "kim":
                probs, info = run_cnn(cfg, fit_train, valid, test, vectorizers[unit])
            elif model == "transformer":
                probs, info = run_transformer(cfg, train, test)
            else:
                probs, info = run_linear(model, unit, train, test, vectorizers.get(unit))
        probabilities[arm] = probs
        row = {"arm": arm, "seed": cfg.seed, "train_docs": len(train), "test_docs": len(test),
               "accuracy": accuracy(probs, test.labels), **info,
               "seconds": round(time.perf_counter() - t0, 1)}
        _step(f"{arm}: accuracy {row['accuracy']:.4f} ({row['seconds']} s)")
        rows.append(row)
        paths = write_results(Path(cfg.out), asdict(cfg), rows, summarize(rows),
                              time.perf_counter() - started)
    print("\n" + summarize(rows))
    _step("wrote " + ", ".join(map(str, paths)))
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


def write_results(out: Path, config: dict, rows: list[dict], summary: str,
                  elapsed: float) -> list[Path]:
    """results.json, results.csv and results.md in `out`."""
    payload = {"config": config, "elapsed_seconds": round(elapsed, 1), "rows": rows}
    return write_files(out, payload, rows, summary)


def _step(message: str) -> None:
    print(f"[nsmc] {message}", flush=True)


# --- command line ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = NsmcConfig()
    parser.add_argument("--arms", type=lambda s: s.split(","), default=defaults.arms,
                        help=f"comma-separated MODEL:UNIT arms or A+B ensembles "
                             f"(default {','.join(DEFAULT_ARMS)})")
    parser.add_argument("--train-fraction", type=cli.fraction, default=defaults.train_fraction,
                        help="stratified share of the 150,000 training reviews")
    parser.add_argument("--test-fraction", type=cli.fraction, default=defaults.test_fraction,
                        help="stratified share of the 50,000 test reviews to score on")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--vocab-size", type=int, default=defaults.vocab_size,
                        help="WordPiece vocabulary size")
    parser.add_argument("--char-vocab-size", type=int, default=defaults.char_vocab_size)
    parser.add_argument("--wordpiece-length", type=int, default=defaults.wordpiece_length,
                        help="pieces per review for the CNN (99 %% of NSMC reviews fit 64)")
    parser.add_argument("--char-length", type=int, default=defaults.char_length,
                        help="characters per review for the CNN (NSMC reviews: <= 140)")
    parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--patience", type=int, default=defaults.patience)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--validation", type=float, default=defaults.validation,
                        help="share of the training reviews held out for CNN early stopping")
    parser.add_argument("--pretrained", default=defaults.pretrained,
                        help="transformer arm: Hugging Face folder or hub name (online)")
    parser.add_argument("--max-length", type=int, default=defaults.max_length,
                        help="transformer arm: tokens per review, special tokens included")
    parser.add_argument("--transformer-epochs", type=int, default=defaults.transformer_epochs)
    parser.add_argument("--transformer-batch-size", type=int,
                        default=defaults.transformer_batch_size)
    parser.add_argument("--transformer-learning-rate", type=float,
                        default=defaults.transformer_learning_rate)
    cli.add_run_options(parser, defaults.out)


def run_from_args(args: argparse.Namespace) -> list[dict]:
    if not 0 < args.validation < 1:
        raise ConfigError(f"--validation must be in (0, 1), got {args.validation}")
    return run(cli.config_from_args(NsmcConfig(), args))
