"""In-graph WordPiece tokenisation that reproduces `TransformerClassifier.token_ids`.

The Hugging Face fast tokenizer of a BERT-style model (BERT, ELECTRA, MiniLM, ...) runs these
steps, redone here in TensorFlow and tensorflow-text ops so that an export needs no Python
tokenizer:

1. added tokens (`[CLS]`, `[SEP]`, ...) written in the raw text become their ids;
2. BertNormalizer: drop control and format characters, put CJK ideographs apart, NFD and drop
   non-spacing marks (accent stripping), lower-case (per character: no final sigma);
3. BertPreTokenizer: split on whitespace, isolate each punctuation character (ASCII
   punctuation and Unicode category P);
4. WordPiece: greedy longest match with the `##` prefix; a word longer than 100 characters, or
   one with a piece missing from the vocabulary, becomes `[UNK]`;

then tl_text's truncation (head, tail, head+tail), `[CLS] ... [SEP]`, right-padding to the
batch's longest row, the attention mask and zero token type ids. The vocabulary is a text file
read by a lookup table, so `tf.saved_model.save` stores it as an asset.

Not reproduced: added tokens with the `single_word` or `normalized` options (rejected at
export), and NUL characters when the normaliser's `clean_text` is off (the text ends there).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tl_text.errors import ConfigError

# Characters BertNormalizer puts apart (tokenizers' `is_chinese_char`).
CJK = (r"\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
       r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}")
WHITESPACE = r"[\t\n\x0B\x0C\r\x{85}\p{Z}]"  # Unicode White_Space, as Rust's char::is_whitespace
PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
CONTROL = r"[^\PC\t\n\r]|\x{FFFD}"  # categories Cc, Cf, Co, Cs except \t \n \r; U+FFFD
ADDED_TOKEN_OPTIONS = ("single_word", "normalized")  # added-token options not reproduced


def hf_settings(tokenizer) -> dict[str, Any]:
    """What the in-graph tokenizer needs from a Hugging Face fast BERT-style tokenizer.

    Raises ConfigError for tokenizers it cannot reproduce (slow ones, SentencePiece, BPE, ...).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"{type(tokenizer).__name__} is not a fast tokenizer; in-graph "
                          f"tokenisation needs the `tokenizers` definition (tokenizer.json)")
    spec = json.loads(backend.to_str())
    parts = {"normalizer": "BertNormalizer", "pre_tokenizer": "BertPreTokenizer",
             "model": "WordPiece"}
    for part, expected in parts.items():
        found = (spec.get(part) or {}).get("type")
        if found != expected:
            raise ConfigError(f"in-graph tokenisation supports BERT-style WordPiece tokenizers "
                              f"only: the tokenizer's {part} is {found}, not {expected}")
    normalizer, model = spec["normalizer"], spec["model"]
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])  # added included
    if [i for _, i in vocab] != list(range(len(vocab))):
        raise ConfigError("the vocabulary's ids are not 0, 1, 2, ... without gaps")
    if any("\n" in token or "\r" in token for token, _ in vocab):
        raise ConfigError("a vocabulary token holds a line break: it cannot be a vocab.txt line")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if tokenizer.build_inputs_with_special_tokens([7]) != [cls_id, 7, sep_id]:
        raise ConfigError("the tokenizer does not frame a text as [CLS] text [SEP]")
    added = spec.get("added_tokens", [])
    for token in added:
        used = [option for option in ADDED_TOKEN_OPTIONS if token.get(option)]
        if used:
            raise ConfigError(f"added token {token['content']!r} uses {used}, which in-graph "
                              f"tokenisation does not reproduce")
    return {"vocab": [token for token, _ in vocab],
            "lowercase": bool(normalizer["lowercase"]),
            "strip_accents": bool(normalizer["lowercase"] if normalizer["strip_accents"] is None
                                  else normalizer["strip_accents"]),
            "clean_text": bool(normalizer["clean_text"]),
            "chinese_chars": bool(normalizer["handle_chinese_chars"]),
            "unk_token": model["unk_token"], "prefix": model["continuing_subword_prefix"],
            "max_chars_per_word": int(model["max_input_chars_per_word"]),
            "added_tokens": [{"content": t["content"], "lstrip": bool(t["lstrip"]),
                              "rstrip": bool(t["rstrip"])} for t in added],
            "cls_id": cls_id, "sep_id": sep_id, "pad_id": tokenizer.pad_token_id}


def added_token_pattern(added_tokens: list[dict[str, Any]]) -> str:
    """A regex matching the added tokens written in a text (longest first), with the
    whitespace their `lstrip` and `rstrip` options take along; "" when there are none."""
    added = sorted(added_tokens, key=lambda t: -len(t["content"]))
    return "|".join((rf"{WHITESPACE}*" if t["lstrip"] else "") + re.escape(t["content"])
                    + (rf"{WHITESPACE}*" if t["rstrip"] else "") for t in added)


class FramedTokenizer(tf.Module):
    """Raw strings [batch] -> padded model inputs, as `TransformerClassifier` builds them,
    from the untruncated ids that a subclass's `pieces(text)` gives (int64 [batch, (pieces)],
    no special tokens): truncation (head, tail, head+tail),
    `cls_id` ... `sep_id`, right-padding with `pad_id` to the batch's longest row, the
    attention mask and zero token type ids."""

    def __init__(self, name: str, ids: dict[str, int], max_length: int, truncation: str,
                 input_names: list[str]):
        super().__init__(name=name)
        room = max_length - 2
        keep_head = {"head": room, "tail": 0, "head+tail": room // 4}.get(truncation)
        if keep_head is None or room < 1:
            raise ConfigError(f"cannot truncate to max_length {max_length} with {truncation!r}")
        self.ids = {key: ids[key] for key in ("cls_id", "sep_id", "pad_id")}
        self.room, self.keep_head, self.input_names = room, keep_head, list(input_names)

    def __call__(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """{input name: int32 [batch, longest]} for the raw strings `text` [batch]."""
        ids = self.token_ids(text)
        lengths = ids.row_lengths()
        width = tf.maximum(tf.reduce_max(lengths), 2)  # 2 for an empty batch too
        input_ids = ids.to_tensor(default_value=self.ids["pad_id"],
                                  shape=tf.stack([ids.nrows(), width]))
        mask = tf.sequence_mask(lengths, width, tf.int32)
        inputs = {"input_ids": tf.cast(input_ids, tf.int32), "attention_mask": mask,
                  "token_type_ids": tf.zeros_like(mask)}
        return {name: inputs[name] for name in self.input_names}

    def token_ids(self, text: tf.Tensor) -> tf.RaggedTensor:
        """int64 [batch, (tokens)]: `cls_id`, the truncated pieces, `sep_id`."""
        pieces = self._truncate(self.pieces(text))
        batch = tf.shape(text, out_type=tf.int64)[:1]
        cls = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.ids["cls_id"], tf.int64))
        sep = tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.ids["sep_id"], tf.int64))
        return tf.concat([cls, pieces, sep], axis=1)

    def _truncate(self, pieces: tf.RaggedTensor) -> tf.RaggedTensor:
        """Keep `keep_head` pieces from the start and fill the rest of `room` from the end."""
        lengths = pieces.row_lengths()
        excess = tf.maximum(lengths - self.room, 0)
        positions = tf.ragged.range(tf.minimum(lengths, self.room))
        skip = tf.cast(positions >= self.keep_head, tf.int64) * tf.expand_dims(excess, 1)
        index = positions + skip + tf.expand_dims(pieces.row_starts(), 1)
        return tf.gather(pieces.flat_values, index)


class WordPieceTokenizer(FramedTokenizer):
    """Raw strings [batch] -> padded model inputs, as `TransformerClassifier` builds them.

    `settings` comes from `hf_settings`; `vocab_file` is written here (one token a line, line
    number = id) and must exist until the module is saved.
    """

    def __init__(self, settings: dict[str, Any], vocab_file: str | Path, max_length: int,
                 truncation: str, input_names: list[str]):
        super().__init__("wordpiece_tokenizer", settings, max_length, truncation, input_names)
        self.settings = {k: v for k, v in settings.items() if k != "vocab"}
        Path(vocab_file).write_text("".join(f"{token}\n" for token in settings["vocab"]),
                                    encoding="utf-8")
        self.vocab = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            str(vocab_file), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), default_value=-1)
        # words over max_chars_per_word are [UNK] already: no byte limit may apply before that
        self.wordpiece = tf_text.WordpieceTokenizer(
            self.vocab, suffix_indicator=settings["prefix"], token_out_type=tf.int64,
            max_bytes_per_word=4 * settings["max_chars_per_word"],
            unknown_token=settings["unk_token"])
        self.added_pattern = added_token_pattern(settings["added_tokens"])

    def pieces(self, text: tf.Tensor) -> tf.RaggedTensor:
        """int64 [batch, (pieces)]: the untruncated ids without special tokens."""
        return self.wordpiece.tokenize(self.words(text)).merge_dims(1, 2)

    def words(self, text: tf.Tensor) -> tf.RaggedTensor:
        """string [batch, (words)]: pre-tokenised, normalised words; added tokens as written."""
        if self.settings["clean_text"]:  # regex_split would end the text at a NUL
            text = tf.strings.regex_replace(text, r"\x00", "")
        if not self.added_pattern:
            return self._long_words_unknown(self._split(self._normalize(text)))
        # the text between added tokens is tokenised on its own, each added token is one word
        segments = tf_text.regex_split(text, self.added_pattern, self.added_pattern)
        flat = segments.flat_values
        added = tf.strings.regex_full_match(flat, self.added_pattern)
        words = self._long_words_unknown(self._split(self._normalize(flat)))
        words = tf.ragged.boolean_mask(
            words, tf.RaggedTensor.from_row_lengths(
                tf.repeat(tf.logical_not(added), words.row_lengths()), words.row_lengths()))
        as_written = tf.strings.regex_replace(flat, rf"^{WHITESPACE}+|{WHITESPACE}+$", "")
        tokens = tf.RaggedTensor.from_row_lengths(tf.boolean_mask(as_written, added),
                                                  tf.cast(added, tf.int64))
        words = tf.concat([words, tokens], axis=1)  # each segment has one of the two
        return segments.with_flat_values(words).merge_dims(1, 2)

    def _normalize(self, text: tf.Tensor) -> tf.Tensor:
        settings = self.settings
        if settings["clean_text"]:
            text = tf.strings.regex_replace(text, CONTROL, "")
        if settings["strip_accents"]:
            text = tf.strings.regex_replace(tf_text.normalize_utf8(text, "NFD"), r"\p{Mn}", "")
        if settings["lowercase"]:
            # Rust lower-cases character by character; ICU would make a final Σ a ς
            text = tf.strings.lower(tf.strings.regex_replace(text, "Σ", "σ"), encoding="utf-8")
        return text

    def _split(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Words between whitespace; punctuation (and CJK ideographs) one character a word."""
        isolated = PUNCTUATION + (f"|[{CJK}]" if self.settings["chinese_chars"] else "")
        return tf_text.regex_split(text, f"{WHITESPACE}+|{isolated}", isolated)

    def _long_words_unknown(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
        too_long = (tf.strings.length(words.flat_values, unit="UTF8_CHAR")
                    > self.settings["max_chars_per_word"])
        return words.with_flat_values(
            tf.where(too_long, self.settings["unk_token"], words.flat_values))


class FastWordPieceTokenizer(tf.Module):
    """Raw strings [batch] -> padded model inputs with ops that convert to TFLite.

    tensorflow-text's FastBertTokenizer (BERT normalisation, whitespace and punctuation
    splitting, WordPiece) then truncation, `[CLS] ... [SEP]` and padding in dense TFLite
    builtins. Its TFLite kernels are tensorflow-text custom ops: an interpreter needs
    `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`. Unlike `WordPieceTokenizer` it
    does not keep added tokens written in the text (`[SEP]` is split as punctuation and
    letters), and its word limit counts bytes, not characters (both equal for ASCII).
    """

    def __init__(self, settings: dict[str, Any], max_length: int, truncation: str,
                 input_names: list[str]):
        super().__init__(name="fast_wordpiece_tokenizer")
        room = max_length - 2
        keep_head = {"head": room, "tail": 0, "head+tail": room // 4}.get(truncation)
        if keep_head is None or room < 1:
            raise ConfigError(f"cannot truncate to max_length {max_length} with {truncation!r}")
        if settings["lowercase"] != settings["strip_accents"]:
            raise ConfigError("the TFLite tokenizer lower-cases and strips accents together or "
                              "not at all; this tokenizer does only one of them")
        self.room, self.keep_head, self.input_names = room, keep_head, list(input_names)
        self.clean_text = settings["clean_text"]  # for the caller: see tl_text.export.tflite
        self.ids = {key: settings[key] for key in ("cls_id", "sep_id", "pad_id")}
        self.tokenizer = tf_text.FastBertTokenizer(
            settings["vocab"], suffix_indicator=settings["prefix"],
            max_bytes_per_word=settings["max_chars_per_word"], token_out_type=tf.int32,
            unknown_token=settings["unk_token"],
            lower_case_nfd_strip_accents=settings["lowercase"])

    def __call__(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        """{input name: int32 [batch, longest]} for the raw strings `text` [batch]."""
        pieces = self.tokenizer.tokenize(text).merge_dims(1, -1)
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        dense = pieces.to_tensor(default_value=self.ids["pad_id"])
        kept = tf.minimum(lengths, self.room)[:, None]
        width = tf.reduce_max(tf.concat([kept, tf.zeros([1, 1], tf.int32)], 0))
        position = tf.range(width)[None, :]
        # head: positions < keep_head; the rest come from the end (skip the excess)
        skip = tf.cast(position >= self.keep_head, tf.int32) * tf.maximum(lengths[:, None]
                                                                           - self.room, 0)
        index = tf.minimum(position + skip, tf.maximum(tf.shape(dense)[1] - 1, 0))
        body = tf.gather(tf.pad(dense, [[0, 0], [0, 1]], constant_values=self.ids["pad_id"]),
                         index, batch_dims=1)
        body = tf.where(position < kept, body, self.ids["pad_id"])
        rows = tf.shape(text)[:1]
        input_ids = tf.concat([tf.fill(tf.concat([rows, [1]], 0), self.ids["cls_id"]), body,
                               tf.fill(tf.concat([rows, [1]], 0), self.ids["pad_id"])], 1)
        position = tf.range(width + 2)[None, :]
        input_ids = tf.where(position == kept + 1, self.ids["sep_id"], input_ids)
        mask = tf.cast(position < kept + 2, tf.int32)
        inputs = {"input_ids": input_ids, "attention_mask": mask,
                  "token_type_ids": tf.zeros_like(mask)}
        return {name: inputs[name] for name in self.input_names}
