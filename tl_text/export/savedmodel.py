"""Export text classifiers as TF Serving SavedModels with a raw-text signature, and load them.

Layout (the one TF Serving watches):

    base_path/
        1/  saved_model.pb  variables/  assets/  metadata.json
        2/  ...

The `serving_default` signature takes `text`: string [batch] and returns `probabilities`:
float32 [batch, classes], `label`: string [batch] and `label_id`: int64 [batch]. Tokenisation
is part of the graph, so loading needs TensorFlow only: no tl_text model code, no pickle.
Transformer exports tokenise with tensorflow-text ops (`tl_text.export.wordpiece`, the WordPiece
vocabulary in `assets/`; `tl_text.export.sentencepiece`, the SentencePiece model in the graph):
the loading process must `import tensorflow_text` to register them, as `load_exported` does.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

import tl_text
from tl_text.atomic import atomic_folder, scratch_folder
from tl_text.errors import ConfigError, TlTextError

if TYPE_CHECKING:  # loading an export must not import the model code
    from tl_text.export.wordpiece import FramedTokenizer
    from tl_text.models.transformer import TransformerClassifier

METADATA = "metadata.json"
SIGNATURE = "serving_default"
OUTPUTS = ("probabilities", "label", "label_id")


class _RawTextModel(tf.Module):
    """What gets saved: a scorer (raw strings -> probabilities) and the serving function."""

    def __init__(self, scorer, label_names: Sequence[str]):
        super().__init__(name="text_classifier")
        self.scorer = scorer
        self.label_names = tf.constant(list(label_names), tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        probabilities = tf.cast(self.scorer(text), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {"probabilities": probabilities,
                "label": tf.gather(self.label_names, label_id),
                "label_id": label_id}


class TransformerScorer(tf.Module):
    """In-graph tokenisation (WordPiece or SentencePiece), the transformer and a softmax.

    Only the model's variables are tracked (not the Keras model itself), so an optimizer
    attached by training is not exported.
    """

    def __init__(self, classifier: "TransformerClassifier", tokenizer: "FramedTokenizer"):
        super().__init__(name="transformer_scorer")
        model = classifier.model
        self.logits = lambda inputs: model(inputs, training=False).logits  # not tracked
        self.model_variables = list(model.variables)
        self.tokenizer = tokenizer

    def __call__(self, text: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.cast(self.logits(self.tokenizer(text)), tf.float32), axis=-1)


def versions(base_path: str | os.PathLike) -> list[int]:
    """The version numbers (numeric sub-folders) under `base_path`, ascending."""
    base = Path(base_path).expanduser()
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and p.is_dir())


def export_model(model: "tf_keras.Model | TransformerClassifier", base_path: str | os.PathLike,
                 name: str | None = None, version: int | None = None,
                 label_names: Sequence[str] | None = None,
                 metadata: dict[str, Any] | None = None) -> Path:
    """Export a Keras model (raw strings in, probabilities out: the CNNs) or a
    `TransformerClassifier` (tokenisation, truncation and softmax in the graph).

    `label_names` default to the transformer's own; a Keras model needs them unless it has
    two classes ("neg", "pos"). The rest is `export_scorer`'s.
    """
    from tl_text.models.transformer import TransformerClassifier

    if isinstance(model, TransformerClassifier):
        with scratch_folder(Path(base_path).expanduser(), "vocabulary") as scratch:
            scorer, described = transformer_scorer(model, scratch / "vocab.txt")
            return export_scorer(scorer, base_path, label_names or model.label_names,
                                 described, metadata, version, name)
    if label_names is None:
        classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
        if classes != 2:
            raise ConfigError(f"the model has {classes} classes: give their label_names")
        label_names = ("neg", "pos")
    return export_scorer(inference_model(model), base_path, label_names,
                         {"model": model.name, "model_type": "keras"}, metadata, version, name)


def export_scorer(scorer, base_path: str | os.PathLike, label_names: Sequence[str],
                  described: dict[str, Any], metadata: dict[str, Any] | None = None,
                  version: int | None = None, name: str | None = None,
                  write_state: Callable[[Path], None] | None = None) -> Path:
    """Save `scorer` (raw strings [batch] -> probabilities [batch, classes]) to
    `base_path/VERSION/` with a raw-text `serving_default` signature.

    `version` defaults to one more than the highest existing one; an existing version is
    never overwritten. metadata.json holds `described` (the model), the labels, the
    signature, library versions, then the caller's JSON-serialisable `metadata` (training
    data, metrics, ...). `write_state(folder)` may add files beside the SavedModel. The
    export is written to a hidden folder beside the target and renamed at the end, so an
    interrupted export leaves no version folder behind. Returns the version folder.
    """
    base = Path(base_path).expanduser()
    labels = checked_label_names(label_names)
    version = new_version(base, version)
    target = base / str(version)
    module = _RawTextModel(scorer, labels)
    info = export_metadata(name or base.name, described, version, labels, metadata or {})
    signature = module.serve.get_concrete_function()
    classes = signature.structured_outputs["probabilities"].shape[-1]
    if classes != len(labels):
        raise ConfigError(f"the model outputs {classes} class probabilities but "
                          f"{len(labels)} label names were given: {list(labels)}")
    try:
        with atomic_folder(target) as staging:
            tf.saved_model.save(module, str(staging), signatures={SIGNATURE: signature})
            if write_state is not None:
                write_state(staging)
            (staging / METADATA).write_text(json.dumps(info, indent=2) + "\n",
                                            encoding="utf-8")
    except FileExistsError as err:  # another export took this version in the meantime
        raise TlTextError(f"cannot create {target}: {err}") from err
    return target


def restore_variables(folder: str | os.PathLike, scorer) -> None:
    """Load the variables of the export in `folder` into `scorer`, a newly built object of the
    same structure as the exported one (e.g. the same Keras model with other weights)."""
    checkpoint = tf.train.Checkpoint(scorer=scorer)
    status = checkpoint.read(str(Path(folder) / "variables" / "variables"))
    status.expect_partial().assert_existing_objects_matched()


def transformer_scorer(classifier: "TransformerClassifier",
                       vocab_file: Path) -> tuple[TransformerScorer, dict[str, Any]]:
    """The scorer to save and its description. WordPiece tokenizers write their vocabulary
    to `vocab_file`; SentencePiece (unigram) ones keep their model in the graph."""
    from tl_text.export.sentencepiece import (SCORE_GRID, SentencePieceTokenizer,
                                              hf_unigram_settings, is_unigram)
    from tl_text.export.wordpiece import WordPieceTokenizer, hf_settings

    framing = (classifier.max_length, classifier.truncation, classifier.input_names)
    if is_unigram(classifier.tokenizer):
        settings = hf_unigram_settings(classifier.tokenizer)
        tokenizer = SentencePieceTokenizer(settings, *framing)
        described_tokenizer = {"type": "SentencePiece", "model": "Unigram",
                               "vocab_size": len(settings["pieces"]), "score_grid": SCORE_GRID}
    else:
        settings = hf_settings(classifier.tokenizer)
        tokenizer = WordPieceTokenizer(settings, vocab_file, *framing)
        described_tokenizer = {"type": "WordPiece", "vocab_size": len(settings["vocab"]),
                               **{key: settings[key] for key in (
                                   "lowercase", "strip_accents", "clean_text", "chinese_chars",
                                   "unk_token", "max_chars_per_word")}}
    config = classifier.model.config
    described = {
        "model": type(classifier.model).__name__, "model_type": "transformer",
        "transformer": {
            "pretrained": classifier.name_or_path, "architecture": config.model_type,
            "max_length": classifier.max_length, "truncation": classifier.truncation,
            "inputs": list(classifier.input_names), "tokenizer": described_tokenizer,
            "config": json.loads(config.to_json_string())}}
    return TransformerScorer(classifier, tokenizer), described


@dataclass
class ExportedModel:
    """A loaded export: `predict` raw texts, read `metadata`, `version` (None if unnumbered)."""

    path: Path
    version: int | None
    metadata: dict[str, Any]
    loaded: Any = field(repr=False)  # keeps the signature's variables alive
    signature: Any = field(repr=False)

    @property
    def label_names(self) -> list[str]:
        return list(self.metadata["labels"])

    def predict_columns(self, texts: Sequence[str], batch_size: int = 256) -> dict[str, list]:
        """{"probabilities": [[p, ...], ...], "label": [...], "label_id": [...]} for `texts`.

        Batches group texts of similar length (transformers pad to a batch's longest text).
        """
        texts = text_list(texts)
        if not texts:
            return {name: [] for name in OUTPUTS}
        order = np.argsort([len(text) for text in texts], kind="stable")
        ordered = [texts[i] for i in order]
        batches = [self.signature(text=tf.constant(ordered[i:i + batch_size], tf.string))
                   for i in range(0, len(texts), batch_size)]
        back = np.argsort(order)
        arrays = {name: np.concatenate([b[name].numpy() for b in batches])[back]
                  for name in OUTPUTS}
        return {"probabilities": arrays["probabilities"].tolist(),
                "label": [label.decode("utf-8") for label in arrays["label"]],
                "label_id": arrays["label_id"].tolist()}

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[dict[str, Any]]:
        """One {"label", "label_id", "probabilities"} dict per text, in order."""
        columns = self.predict_columns(texts, batch_size)
        return [dict(zip(OUTPUTS, row)) for row in zip(*(columns[n] for n in OUTPUTS))]


def load_exported(path: str | os.PathLike) -> ExportedModel:
    """Load an export from its base path (highest version wins) or from a version folder."""
    folder = _version_folder(Path(path).expanduser())
    metadata_file = folder / METADATA
    if not metadata_file.is_file():
        raise TlTextError(f"{folder} has no {METADATA}: not written by tl_text's export_model")
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise TlTextError(f"{metadata_file} is not valid JSON: {err}") from err
    if not isinstance(metadata, dict) or not isinstance(metadata.get("labels"), list):
        raise TlTextError(f"{metadata_file} has no \"labels\" list: not written by tl_text's "
                          f"export_model")
    try:
        import tensorflow_text  # noqa: F401  (registers the ops of transformer exports)
    except ImportError as err:
        if "transformer" in json.dumps(metadata.get("model_type")):
            raise TlTextError(f"{folder} is a transformer export: loading it needs the "
                              f"tensorflow-text package ({err})") from err
    try:
        loaded = tf.saved_model.load(str(folder))
    except Exception as err:  # TensorFlow's reaction to a damaged file: any type, IndexError too
        first_line = next(iter(str(err).strip().splitlines()), "")
        raise TlTextError(f"cannot load the SavedModel in {folder}: a file is missing, "
                          f"truncated or corrupt ({type(err).__name__}: {first_line})") from err
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None or set(signature.structured_outputs) != set(OUTPUTS):
        raise TlTextError(f"{folder} has no {SIGNATURE!r} signature with outputs {OUTPUTS}")
    version = int(folder.name) if folder.name.isdigit() else None
    return ExportedModel(folder, version, metadata, loaded, signature)


def inference_model(model: tf_keras.Model) -> tf_keras.Model:
    """The same layers and weights without the optimizer and metrics, which serving never uses
    (Adam's slots alone would triple the export's size)."""
    if getattr(model, "inputs", None) and getattr(model, "outputs", None):
        return tf_keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def export_metadata(name: str, described: dict[str, Any], version: int, labels: Sequence[str],
                    extra: dict[str, Any]) -> dict[str, Any]:
    """metadata.json: what export_model knows (`described`: the model), then the caller's
    JSON-serialisable `extra`."""
    versions = {"tl_text": tl_text.__version__, "tensorflow": tf.__version__,
                "tf_keras": tf_keras.__version__,
                **{package: importlib.metadata.version(package)
                   for package in ("transformers", "tensorflow-text")}}
    info = {"name": name, **described, "version": version, "labels": list(labels),
            "signature": {"name": SIGNATURE, "inputs": {"text": "string [batch]"},
                          "outputs": {"probabilities": f"float32 [batch, {len(labels)}]",
                                      "label": "string [batch]", "label_id": "int64 [batch]"}},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions}
    clashes = sorted(set(extra) & set(info))
    if clashes:
        raise ConfigError(f"metadata keys {clashes} are set by export_model; rename them")
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"metadata must be JSON-serialisable: {err}") from err
    return {**info, **extra}


def checked_label_names(label_names: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(label_names)
    if not labels or not all(isinstance(n, str) and n for n in labels):
        raise ConfigError(f"label names must be non-empty strings, got {list(labels)}")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label names must be distinct, got {list(labels)}")
    return labels


def new_version(base: Path, version: int | None) -> int:
    existing = versions(base)
    next_version = existing[-1] + 1 if existing else 1
    if version is None:
        return next_version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"version must be a positive integer, got {version!r}")
    if (base / str(version)).exists():
        raise ConfigError(f"{base / str(version)} already exists; versions are never "
                          f"overwritten (leave version unset to write {next_version})")
    return version


def _version_folder(path: Path) -> Path:
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        problem = "is a file" if path.exists() else "does not exist"
        raise TlTextError(f"{path} {problem} (expected an export base path or a version "
                          f"folder holding saved_model.pb)")
    found = versions(path)
    if not found:
        raise TlTextError(f"no exported model in {path}: expected {path}/<version>/"
                          f"saved_model.pb")
    return path / str(found[-1])


def text_list(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, not a single string")
    texts = list(texts)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] is a {type(texts[bad]).__name__}, not a string")
    return texts
