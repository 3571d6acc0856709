"""Amazon → IMDB transfer: does a large labelled source domain rescue a low-data target?

Source step (cached): a CNN (Denil et al. 2014 by default, or Kim 2014) on every Amazon
review in `<data root>/amazon/`, GloVe-initialised, embeddings trainable; its tuned vectors
go to `embeddings/`, the model to `saved_models/`.
Target arms, each trained on a stratified IMDB fraction and scored on the 25,000 test reviews:

    glove       CNN on plain GloVe vectors
    amazon-emb  CNN on GloVe updated with the Amazon-tuned vectors (the talk's method)
    finetune    the whole source CNN (convolutions and classifier too) fine-tuned on IMDB
    tfidf-lr    TF-IDF uni+bigrams + logistic regression (baseline)
    nb-lr       NB-weighted uni+bigrams + logistic regression (baseline)
    bert        a pretrained transformer (`--pretrained`, MiniLM by default) fine-tuned on IMDB
    bert-transfer  the same transformer fine-tuned on Amazon reviews first (cached), then on IMDB
    frozen-lr   logistic regression on the frozen transformer's mean-pooled features (fast)
    A+B         the mean of two arms' probabilities, e.g. finetune+nb-lr against glove+nb-lr
                (both arms must be listed too; costs no extra training)

CNN arms hold out a validation split for early stopping; transformer arms train on the whole
fraction for a fixed number of epochs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tl_text import cli
from tl_text.atomic import atomic_path, atomic_write
from tl_text.data import TextDataset, load_amazon, load_imdb
from tl_text.errors import ConfigError
from tl_text.experiments.report import summarize, write_results

ARMS = ("glove", "amazon-emb", "finetune", "tfidf-lr", "nb-lr", "bert", "bert-transfer",
        "frozen-lr")
CNN_ARMS = ("glove", "amazon-emb", "finetune")
TRANSFORMER_ARMS = ("bert", "bert-transfer", "frozen-lr")
DEFAULT_ARMS = (*CNN_ARMS, "tfidf-lr", "nb-lr", "glove+nb-lr", "finetune+nb-lr")
MODELS = ("kim", "denil")


@dataclass
class TransferConfig:
    """Every knob of the experiment; saved next to the results."""

    fractions: list[float] = field(default_factory=lambda: [0.05])
    seeds: int = 3
    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))
    model: str = "denil"
    epochs: int = 20
    patience: int = 2
    min_epochs: int = 4
    source_epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_tokens: int = 30_000
    sequence_length: int = 400
    validation: float = 0.1
    target_embeddings: str = "trainable"
    vectors: str = "glove-6b-50d"
    test_fraction: float = 1.0
    source_fraction: float = 1.0
    retrain_source: bool = False
    schedule: str = "constant"
    pretrained: str = "minilm"
    max_length: int = 256
    truncation: str = "head+tail"
    trainer: str = "native"
    bert_epochs: int = 3
    bert_batch_size: int = 16
    bert_learning_rate: float = 5e-5
    bert_source_epochs: int = 1
    bert_source_fraction: float = 0.25
    data_dir: str | None = None
    out: str = "runs/transfer"
    models_dir: str = "saved_models"
    embeddings_dir: str = "embeddings"
    verbose: int = 2


# --- source step ----------------------------------------------------------------------------

@dataclass
class SourceModel:
    vocabulary: list[str]
    model: object  # tf_keras.Model
    tuned_vectors_path: Path


def source_model(cfg: TransferConfig, glove) -> SourceModel:
    """Train the Amazon CNN, or load it when a model trained with the same settings exists."""
    import tf_keras

    from tl_text.embeddings import build_matrix, save_word2vec, vectors_from_matrix
    from tl_text.models import embedding_weights, make_vectorizer, vocabulary
    from tl_text.models.cnn import VERSION
    from tl_text.training import accuracy, fit, predict_proba

    amazon = load_amazon(cfg.data_dir).fraction(cfg.source_fraction, seed=0)
    settings, key = _cache_key(cfg, amazon, ("model", "source_epochs", "batch_size",
                                             "learning_rate", "patience", "max_tokens",
                                             "sequence_length", "validation", "vectors"),
                               cnn_version=VERSION)
    folder = Path(cfg.models_dir) / f"source-amazon-{cfg.model}-{key}"
    vectors_name = Path(cfg.vectors).name.split(".")[0]
    tuned_path = Path(cfg.embeddings_dir) / f"amazon-{cfg.model}-{vectors_name}-{key}.w2v.txt"
    weights = folder / "weights.h5"

    if weights.exists() and tuned_path.exists() and not cfg.retrain_source:
        _step(f"source: reusing {folder}")
        vocab = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        model = _cnn(cfg, vocab, np.zeros((len(vocab), glove.dim), np.float32), True)
        model.load_weights(weights)
        return SourceModel(vocab, model, tuned_path)

    _step(f"source: training a {cfg.model} CNN on {len(amazon):,} Amazon reviews "
          f"({amazon.class_counts()})")
    tf_keras.utils.set_random_seed(0)
    train, valid = amazon.split(cfg.validation, seed=0)
    vectorizer = make_vectorizer(train.texts, cfg.max_tokens, cfg.sequence_length)
    vocab = vocabulary(vectorizer)
    matrix, coverage = build_matrix(glove, vocab, seed=0)
    _step(f"source: GloVe {coverage}")
    model = _cnn(cfg, vocab, matrix, trainable=True)
    result = fit(model, train, valid, cfg.source_epochs, cfg.batch_size, cfg.learning_rate,
                 cfg.patience, seed=0, verbose=cfg.verbose)
    valid_acc = accuracy(predict_proba(model, valid.texts), valid.labels)
    _step(f"source: validation accuracy {valid_acc:.4f} (best epoch {result.best_epoch + 1})")

    atomic_write(folder / "vocabulary.txt", "\n".join(vocab).encode("utf-8"))
    atomic_write(folder / "config.json", json.dumps(
        {**settings, "documents": len(amazon), "validation_accuracy": valid_acc,
         "seconds_per_epoch": result.seconds_per_epoch}, indent=2).encode())
    with atomic_path(weights) as tmp:  # last: its presence marks a complete cache entry
        model.save_weights(str(tmp), save_format="h5")
    tuned = vectors_from_matrix(vocab, embedding_weights(model))
    save_word2vec(tuned, tuned_path)
    _step(f"source: saved {folder} and {len(tuned):,} tuned vectors to {tuned_path}")
    return SourceModel(vocab, model, tuned_path)


def transformer_source(cfg: TransferConfig) -> Path:
    """Fine-tune the pretrained transformer on Amazon reviews, or find the cached result."""
    from tl_text.models.transformer import TransformerClassifier
    from tl_text.training import accuracy
    from tl_text.training.transformer_fit import fit_transformer

    amazon = load_amazon(cfg.data_dir).fraction(cfg.bert_source_fraction, seed=0)
    settings, key = _cache_key(cfg, amazon, (
        "pretrained", "max_length", "truncation", "trainer", "bert_source_epochs",
        "bert_batch_size", "bert_learning_rate", "validation"))
    folder = Path(cfg.models_dir) / f"source-amazon-{Path(cfg.pretrained).name}-{key}"
    if folder.exists() and not cfg.retrain_source:
        _step(f"transformer source: reusing {folder}")
        return folder
    _step(f"transformer source: fine-tuning {cfg.pretrained} on {len(amazon):,} Amazon "
          f"reviews ({amazon.class_counts()})")
    train, valid = amazon.split(cfg.validation, seed=0)
    classifier = TransformerClassifier.from_pretrained(
        cfg.pretrained, amazon.label_names, cfg.max_length, cfg.truncation)
    result = fit_transformer(classifier, train, None, cfg.bert_source_epochs,
                             cfg.bert_batch_size, cfg.bert_learning_rate, trainer=cfg.trainer,
                             seed=0, verbose=cfg.verbose)
    valid_acc = accuracy(classifier.predict_proba(valid.texts), valid.labels)
    _step(f"transformer source: validation accuracy {valid_acc:.4f}")
    if folder.exists():  # --retrain-source
        shutil.rmtree(folder)
    classifier.save_pretrained(folder, metadata={
        **settings, "documents": len(amazon), "validation_accuracy": valid_acc,
        "seconds_per_epoch": result.seconds_per_epoch})
    _step(f"transformer source: saved {folder}")
    return folder


def _cache_key(cfg: TransferConfig, source: TextDataset, fields: tuple[str, ...], **extra):
    """The settings a cached source model depends on (its data and `extra` included), and
    their hash."""
    settings = {**{k: getattr(cfg, k) for k in fields}, **extra}
    settings["data"] = hashlib.sha1("\n".join(source.ids).encode()).hexdigest()[:12]
    return settings, hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


# --- target arms ----------------------------------------------------------------------------

def run_cnn_arm(arm: str, cfg: TransferConfig, train: TextDataset, test: TextDataset,
                seed: int, glove, tuned, source: SourceModel | None) -> tuple[np.ndarray, dict]:
    """Train one CNN arm on `train` (a validation split is held out); its `test` probabilities
    and training notes."""
    import tf_keras

    from tl_text.embeddings import build_matrix, update_embeddings
    from tl_text.models import make_vectorizer, vocabulary
    from tl_text.training import fit, predict_proba

    tf_keras.utils.set_random_seed(seed)
    fit_train, valid = train.split(cfg.validation, seed=seed)
    vocab = vocabulary(make_vectorizer(fit_train.texts, cfg.max_tokens, cfg.sequence_length))
    matrix, coverage = build_matrix(glove, vocab, seed=seed)
    notes = [f"GloVe {coverage.found:,}/{coverage.total:,} words"]
    if arm in ("amazon-emb", "finetune"):
        matrix, updated = update_embeddings(matrix, vocab, tuned)
        notes.append(str(updated))
    model = _cnn(cfg, vocab, matrix, trainable=cfg.target_embeddings == "trainable")
    if arm == "finetune":
        _copy_non_embedding_weights(source.model, model)
    result = fit(model, fit_train, valid, cfg.epochs, cfg.batch_size, cfg.learning_rate,
                 cfg.patience, seed=seed, verbose=cfg.verbose, schedule=cfg.schedule,
                 min_epochs=cfg.min_epochs)
    return predict_proba(model, test.texts), {
        "epochs": result.best_epoch + 1, "seconds_per_epoch": round(result.seconds_per_epoch, 2),
        "notes": "; ".join(notes)}


def run_transformer_arm(arm: str, cfg: TransferConfig, train: TextDataset,
                        test: TextDataset, seed: int, source: Path | None,
                        test_features: dict) -> tuple[np.ndarray, dict]:
    """Fine-tune (bert, bert-transfer) or probe (frozen-lr) the transformer on `train`."""
    from tl_text.models.transformer import TransformerClassifier
    from tl_text.training.transformer_fit import fit_transformer

    start = source if arm == "bert-transfer" else cfg.pretrained
    classifier = TransformerClassifier.from_pretrained(start, train.label_names, cfg.max_length,
                                                       cfg.truncation)
    if arm == "frozen-lr":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if "test" not in test_features:  # the frozen encoder's test features serve every seed
            test_features["test"] = classifier.features(test.texts)
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        probe.fit(classifier.features(train.texts), train.labels)
        return probe.predict_proba(test_features["test"]), {"notes": "mean-pooled features"}
    result = fit_transformer(classifier, train, None, cfg.bert_epochs, cfg.bert_batch_size,
                             cfg.bert_learning_rate, trainer=cfg.trainer, seed=seed,
                             verbose=cfg.verbose)
    t0 = time.perf_counter()
    probabilities = classifier.predict_proba(test.texts)
    return probabilities, {
        "epochs": cfg.bert_epochs, "seconds_per_epoch": round(result.seconds_per_epoch, 2),
        "notes": f"{cfg.trainer} trainer; test prediction {time.perf_counter() - t0:.0f} s"}


def run_linear_arm(arm: str, train: TextDataset, test: TextDataset) -> tuple[np.ndarray, dict]:
    from tl_text.models.linear import NBLogisticRegression, tfidf_lr

    model = tfidf_lr() if arm == "tfidf-lr" else NBLogisticRegression()
    model.fit(train.texts, train.labels)
    return model.predict_proba(test.texts), {}


def _cnn(cfg: TransferConfig, vocab: list[str], matrix: np.ndarray, trainable: bool):
    from tl_text.models import denil_cnn, kim_cnn, vectorizer_from_vocabulary

    build = kim_cnn if cfg.model == "kim" else denil_cnn
    return build(vectorizer_from_vocabulary(vocab, cfg.sequence_length), matrix,
                 trainable_embeddings=trainable)


def _copy_non_embedding_weights(source, target) -> None:
    """Same architecture, different vocabularies: copy every weight but the embedding rows."""
    for src, dst in zip(source.layers, target.layers):
        if dst.name != "embedding" and dst.get_weights():
            dst.set_weights(src.get_weights())


# --- the whole experiment -------------------------------------------------------------------

def run(cfg: TransferConfig) -> list[dict]:
    """Every (fraction, arm, seed) result row; also written to `cfg.out`."""
    from tl_text.training import accuracy

    _check_arms(cfg.arms)
    started = time.perf_counter()
    _step("data: reading IMDB")
    imdb = load_imdb(("train", "test"), data_dir=cfg.data_dir)
    test = imdb["test"].fraction(cfg.test_fraction, seed=0)
    glove = tuned = source = None
    if set(cfg.arms) & set(CNN_ARMS):
        from tl_text.embeddings import load_vectors
        glove = load_vectors(cfg.vectors)
    if set(cfg.arms) & {"amazon-emb", "finetune"}:
        source = source_model(cfg, glove)
        tuned = load_vectors(source.tuned_vectors_path)
    bert_source = transformer_source(cfg) if "bert-transfer" in cfg.arms else None
    test_features = {}

    rows = []
    for fraction in cfg.fractions:
        for seed in range(cfg.seeds):
            train = imdb["train"].fraction(fraction, seed=seed)
            probabilities = {}
            for arm in cfg.arms:
                _step(f"target: {arm}, fraction {fraction:g} ({len(train):,} reviews), "
                      f"seed {seed}")
                t0 = time.perf_counter()
                if arm in CNN_ARMS:
                    probs, info = run_cnn_arm(arm, cfg, train, test, seed, glove, tuned, source)
                elif arm in TRANSFORMER_ARMS:
                    probs, info = run_transformer_arm(arm, cfg, train, test, seed, bert_source,
                                                      test_features)
                elif arm in ARMS:
                    probs, info = run_linear_arm(arm, train, test)
                else:
                    probs, info = np.mean([probabilities[a] for a in arm.split("+")], axis=0), {}
                probabilities[arm] = probs
                row = {"fraction": fraction, "arm": arm, "seed": seed, "train_docs": len(train),
                       "test_docs": len(test), "accuracy": accuracy(probs, test.labels),
                       **info, "seconds": round(time.perf_counter() - t0, 1)}
                notes = f"; {info['notes']}" if info.get("notes") else ""
                _step(f"target: {arm} seed {seed}: accuracy {row['accuracy']:.4f} "
                      f"({row['seconds']} s{notes})")
                rows.append(row)
            # after every seed, so that an interrupted run keeps what it finished
            paths = write_results(Path(cfg.out), asdict(cfg), rows, summarize(rows),
                                  elapsed=time.perf_counter() - started)
    print("\n" + summarize(rows))
    _step("wrote " + ", ".join(map(str, paths)))
    return rows


def _check_arms(arms: list[str]) -> None:
    """Known arms; an ensemble A+B needs A and B listed before it."""
    for i, arm in enumerate(arms):
        parts = arm.split("+")
        if any(p not in ARMS for p in parts):
            raise ConfigError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)} or A+B")
        if len(parts) > 1 and not set(parts) <= set(arms[:i]):
            raise ConfigError(f"ensemble {arm!r} needs {' and '.join(parts)} listed before it")


def _step(message: str) -> None:
    print(f"[transfer] {message}", flush=True)


# --- command line ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TransferConfig()
    parser.add_argument("--fraction", type=cli.fractions, default=defaults.fractions,
                        dest="fractions", help="IMDB training fraction(s), comma-separated "
                                               "for a sweep (default 0.05 = 1,250 reviews)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds,
                        help="seeds per arm (samples and initialisation)")
    parser.add_argument("--arms", type=lambda s: s.split(","), default=defaults.arms,
                        help=f"comma-separated arms from {','.join(ARMS)}, or A+B ensembles "
                             f"(default {','.join(DEFAULT_ARMS)})")
    parser.add_argument("--model", choices=MODELS, default=defaults.model,
                        help="CNN for the CNN arms (Kim 2014 or Denil et al. 2014)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="max target epochs (early stopping on a validation split)")
    parser.add_argument("--source-epochs", type=int, default=defaults.source_epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                        help="Adam learning rate (source and target CNNs)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--patience", type=int, default=defaults.patience,
                        help="epochs without a better validation loss before stopping")
    parser.add_argument("--min-epochs", type=int, default=defaults.min_epochs,
                        help="target CNN epochs to run before early stopping may stop")
    parser.add_argument("--target-embeddings", choices=("trainable", "frozen"),
                        default=defaults.target_embeddings)
    parser.add_argument("--vectors", default=defaults.vectors,
                        help="glove-6b-50d (packaged) or a GloVe/word2vec file")
    parser.add_argument("--test-fraction", type=cli.fraction, default=defaults.test_fraction,
                        help="stratified share of the 25,000 test reviews to score on")
    parser.add_argument("--source-fraction", type=cli.fraction, default=defaults.source_fraction,
                        help="stratified share of the Amazon reviews to train the source on")
    parser.add_argument("--retrain-source", action="store_true",
                        help="train the source models even if cached ones exist")
    parser.add_argument("--schedule", choices=("constant", "onecycle"), default=defaults.schedule,
                        help="CNN learning rate: constant, or one-cycle peaking at it")
    bert = parser.add_argument_group("transformer arms (bert, bert-transfer, frozen-lr)")
    bert.add_argument("--pretrained", default=defaults.pretrained,
                      help="minilm (packaged), a Hugging Face folder, or a hub name when online")
    bert.add_argument("--max-length", type=int, default=defaults.max_length,
                      help="tokens per document, special tokens included")
    bert.add_argument("--truncation", choices=("head", "tail", "head+tail"),
                      default=defaults.truncation)
    bert.add_argument("--trainer", choices=("native", "ktrain"), default=defaults.trainer,
                      help="native AdamW + warm-up, or ktrain's fit_onecycle")
    bert.add_argument("--bert-epochs", type=int, default=defaults.bert_epochs)
    bert.add_argument("--bert-batch-size", type=int, default=defaults.bert_batch_size)
    bert.add_argument("--bert-learning-rate", type=float, default=defaults.bert_learning_rate,
                      help="peak learning rate")
    bert.add_argument("--bert-source-epochs", type=int, default=defaults.bert_source_epochs)
    bert.add_argument("--bert-source-fraction", type=cli.fraction,
                      default=defaults.bert_source_fraction,
                      help="share of the Amazon reviews for the bert-transfer source step")
    cli.add_run_options(parser, defaults.out)
    parser.add_argument("--models-dir", default=defaults.models_dir)
    parser.add_argument("--embeddings-dir", default=defaults.embeddings_dir)


def run_from_args(args: argparse.Namespace) -> list[dict]:
    return run(cli.config_from_args(TransferConfig(), args))
