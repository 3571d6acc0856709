"""Int8 TFLite exports of transformer classifiers, tokenizer inside, and their loader.

    export_tflite(classifier, "saved_models/imdb-minilm-tflite")   # -> .../1/model.tflite
    load_tflite("saved_models/imdb-minilm-tflite").predict(["A gem of a film."])

Layout: `base_path/VERSION/model.tflite` and `metadata.json`, numbered like the SavedModel
exports. The graph takes `text`: string [batch] and returns `probabilities`: float32 [batch,
classes]; tokenisation (`tl_text.export.wordpiece.FastWordPieceTokenizer`), truncation and
padding run inside it as tensorflow-text custom ops, which the loader registers. Weights are
quantised to int8 with dynamic-range quantisation (`Optimize.DEFAULT`): matrix products run in
int8 with activations quantised on the fly, the rest in float32.

The graph treats control and format characters as spaces, where the Hugging Face tokenizer
deletes them (IMDB's cp1252 leftovers such as U+0097 join two words there), so the loader
deletes them before calling it: a program that runs model.tflite itself should do the same.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import threading
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import tensorflow as tf

from tl_text.atomic import atomic_folder
from tl_text.errors import ConfigError, TlTextError
from tl_text.export.savedmodel import (METADATA, OUTPUTS, checked_label_names, export_metadata,
                                       new_version, text_list, versions)

if TYPE_CHECKING:
    from tl_text.models.transformer import TransformerClassifier

MODEL_FILE = "model.tflite"
SIGNATURE = "serving_default"
THREADS = 2


class _TFLiteGraph(tf.Module):
    """Raw strings -> TFLite-convertible tokenizer -> transformer -> softmax."""

    def __init__(self, classifier: "TransformerClassifier"):
        from tl_text.export.wordpiece import FastWordPieceTokenizer, hf_settings

        super().__init__(name="tflite_text_classifier")
        model = classifier.model
        self.logits = lambda inputs: model(inputs, training=False).logits  # not tracked
        self.model_variables = list(model.variables)
        self.tokenizer = FastWordPieceTokenizer(hf_settings(classifier.tokenizer),
                                                classifier.max_length, classifier.truncation,
                                                classifier.input_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        logits = tf.cast(self.logits(self.tokenizer(text)), tf.float32)
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}


def export_tflite(classifier: "TransformerClassifier", base_path: str | os.PathLike,
                  metadata: dict[str, Any] | None = None, version: int | None = None,
                  name: str | None = None, quantize: bool = True) -> Path:
    """Convert `classifier` to TFLite (int8 dynamic-range weights unless `quantize` is False)
    under `base_path/VERSION/`, written to a hidden folder and renamed at the end. A network
    built in bfloat16 is rebuilt in float32 first. Returns the version folder."""
    from tl_text.export.sentencepiece import is_unigram

    if is_unigram(classifier.tokenizer):
        raise ConfigError(f"{classifier.name_or_path}: TFLite exports tokenise with WordPiece "
                          f"only (BERT, ELECTRA, MiniLM), and this tokenizer is SentencePiece; "
                          f"export it as a SavedModel instead (export_model, tl-text train)")
    base = Path(base_path).expanduser()
    labels = checked_label_names(classifier.label_names)
    version = new_version(base, version)
    target = base / str(version)
    with tempfile.TemporaryDirectory(prefix="tl_text-tflite-") as scratch:
        float32 = _float32(classifier, Path(scratch))
        graph = _TFLiteGraph(float32)
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [graph.serve.get_concrete_function()], graph)
        converter.allow_custom_ops = True  # the tensorflow-text tokenizer ops
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            flatbuffer = converter.convert()
        except Exception as err:  # the converter raises its own ConverterError
            raise ConfigError(f"cannot convert {classifier.name_or_path} to TFLite: "
                              f"{err}") from err
    described = {"model": type(classifier.model).__name__, "model_type": "transformer",
                 "format": "tflite", "quantization": "dynamic-range int8" if quantize else None,
                 "transformer": {"pretrained": classifier.name_or_path,
                                 "max_length": classifier.max_length,
                                 "truncation": classifier.truncation,
                                 "clean_text": graph.tokenizer.clean_text}}
    info = export_metadata(name or base.name, described, version, labels, metadata or {})
    info["signature"] = {"inputs": {"text": "string [batch]"},
                         "outputs": {"probabilities": f"float32 [batch, {len(labels)}]"}}
    try:
        with atomic_folder(target) as staging:
            (staging / MODEL_FILE).write_bytes(flatbuffer)
            (staging / METADATA).write_text(json.dumps(info, indent=2) + "\n",
                                            encoding="utf-8")
    except FileExistsError as err:  # another export took this version in the meantime
        raise TlTextError(f"cannot create {target}: {err}") from err
    return target


def _float32(classifier: "TransformerClassifier", scratch: Path) -> "TransformerClassifier":
    """`classifier` itself if it computes in float32, else a float32 copy."""
    from tl_text.models.precision import policy
    from tl_text.models.transformer import TransformerClassifier

    if classifier.model.compute_dtype == "float32":
        return classifier
    classifier.save_pretrained(scratch / "float32")
    with policy("float32"):
        return TransformerClassifier.from_pretrained(scratch / "float32")


class TFLiteModel:
    """A loaded TFLite export, with `ExportedModel`'s interface: `predict`, `predict_columns`,
    `predict_proba`, `label_names`, `metadata`, `version`. Calls are serialised (one
    interpreter); batches group texts of similar length."""

    def __init__(self, folder: Path, metadata: dict[str, Any], num_threads: int = THREADS):
        from tensorflow_text import tflite_registrar  # the tokenizer's custom op kernels

        self.path, self.metadata = folder, metadata
        self.version = int(folder.name) if folder.name.isdigit() else None
        from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

        try:
            self._interpreter = InterpreterWithCustomOps(
                custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
                model_path=str(folder / MODEL_FILE), num_threads=num_threads)
            self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as err:
            raise TlTextError(f"cannot load {folder / MODEL_FILE}: {err}") from err
        self._lock = threading.Lock()
        self._clean = metadata.get("transformer", {}).get("clean_text", False)

    @property
    def label_names(self) -> list[str]:
        return list(self.metadata["labels"])

    def predict_proba(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """float32 [len(texts), classes], in the order of `texts`."""
        texts = text_list(texts)
        if not texts:
            return np.zeros((0, len(self.label_names)), np.float32)
        if self._clean:
            texts = [_control_characters().sub("", text) for text in texts]
        order = np.argsort([len(text) for text in texts], kind="stable")
        with self._lock:
            batches = [self._runner(text=np.array([texts[i] for i in order[s:s + batch_size]],
                                                  dtype=object))["probabilities"]
                       for s in range(0, len(texts), batch_size)]
        probabilities = np.empty((len(texts), batches[0].shape[1]), np.float32)
        probabilities[order] = np.concatenate(batches)
        return probabilities

    def predict_columns(self, texts: Sequence[str], batch_size: int = 16) -> dict[str, list]:
        """{"probabilities": [[p, ...], ...], "label": [...], "label_id": [...]}."""
        probabilities = self.predict_proba(texts, batch_size)
        label_id = probabilities.argmax(axis=1) if len(probabilities) else np.zeros(0, int)
        return {"probabilities": probabilities.tolist(),
                "label": [self.label_names[i] for i in label_id],
                "label_id": label_id.tolist()}

    def predict(self, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, Any]]:
        """One {"label", "label_id", "probabilities"} dict per text, in order."""
        columns = self.predict_columns(texts, batch_size)
        return [dict(zip(OUTPUTS, row)) for row in zip(*(columns[n] for n in OUTPUTS))]


@functools.lru_cache(maxsize=1)
def _control_characters() -> re.Pattern:
    """What BertNormalizer's clean_text deletes: Unicode category C but tab, newline and
    carriage return, and U+FFFD."""
    codes = sorted({c for c in range(0x110000) if unicodedata.category(chr(c))[0] == "C"}
                   - {ord("\t"), ord("\n"), ord("\r")} | {0xFFFD})
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return re.compile("[" + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}"
                                    for first, last in ranges) + "]")


def tflite_folder(path: str | os.PathLike) -> Path | None:
    """The version folder holding model.tflite that `path` names (itself, or the highest
    version under it); None when `path` is not a TFLite export."""
    path = Path(path).expanduser()
    if (path / MODEL_FILE).is_file():
        return path
    found = versions(path)
    if found and (path / str(found[-1]) / MODEL_FILE).is_file():
        return path / str(found[-1])
    return None


def load_tflite(path: str | os.PathLike, num_threads: int = THREADS) -> TFLiteModel:
    """Load a TFLite export from its base path (highest version wins) or a version folder."""
    folder = tflite_folder(path)
    if folder is None:
        raise TlTextError(f"no TFLite export at {path}: expected {MODEL_FILE} in it or in "
                          f"its highest numbered version folder")
    metadata_file = folder / METADATA
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        checked_label_names(metadata["labels"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as err:
        raise TlTextError(f"{metadata_file}: not the metadata of a tl_text TFLite export "
                          f"({err})") from err
    return TFLiteModel(folder, metadata, num_threads)
