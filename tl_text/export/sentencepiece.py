"""In-graph SentencePiece tokenisation that reproduces `TransformerClassifier.token_ids` for
XLM-R style tokenizers (multilingual-e5 from `tl_text.models.e5`, XLM-RoBERTa, ...).

The Hugging Face fast tokenizer runs, on each text:

1. added tokens (`<s>`, `</s>`, `<pad>`, `<unk>`, `<mask>`) written in the raw text become
   their ids, the text between them is tokenised on its own;
2. the SentencePiece normaliser (its precompiled character map), then trailing whitespace
   removed and runs of spaces made one;
3. Metaspace: "▁" for every space and one in front, a word before each "▁";
4. the unigram model on each word: the segmentation into pieces with the highest sum of
   piece scores (Viterbi), a run of characters that no piece covers one `<unk>`;

then tl_text's truncation (head, tail, head+tail), `<s> ... </s>` and padding
(`tl_text.export.wordpiece.FramedTokenizer`). Steps 2 to 4 are tensorflow-text's
SentencepieceTokenizer (the SentencePiece library) on a model rebuilt from the tokenizer's
own definition (tokenizer.json): the same pieces, ids, scores and character map, with
SentencePiece's `remove_extra_whitespaces` (leading and trailing spaces dropped, runs made
one), on the raw text split at spaces.

Ties. Hugging Face adds scores in float64, where sums of the float32 scores are exact, so
segmentations of equal score (the same pieces in another order: "ㅋㅋ ㅋㅋㅋ" or
"ㅋㅋㅋ ㅋㅋ", ". ..." or "... .") tie, and the tie goes to the one whose last piece starts
first. SentencePiece adds in float32, whose rounding picks either: 57 of 5,000 NSMC reviews
came out differently (whole texts, scores as given). With the scores rounded to multiples of
`SCORE_GRID` (2^-13) the sums stay exact in float32 up to 2^11 (one word's: hence the split
at spaces, as step 3 splits), ties stay ties and SentencePiece breaks them by the same rule
as Hugging Face. The rounding could reorder segmentations whose scores differ by less than
it; none did on 35,000 NSMC and IMDB reviews (benchmarks/results/e5.md).

SentencePiece ends a text at NUL: NUL is replaced by a character that the tokenizer treats
alike (`nul_stand_in`: unknown, kept by the normaliser).

Not reproduced: added tokens with `single_word` (rejected at export); added tokens marked
`normalized` (XLM-R's `<mask>`) are looked for in the raw text, where Hugging Face looks in
the normalised text: a full-width "＜ｍａｓｋ＞" stays text here, and two or more spaces
before `<mask>` leave no "▁" piece here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

from tl_text.errors import ConfigError
from tl_text.export.wordpiece import WHITESPACE, FramedTokenizer, added_token_pattern

SCORE_GRID = 2.0 ** -13  # piece scores are rounded to multiples of this (see the docstring)
NORMALIZERS = [{"type": "Precompiled"},
               {"type": "Strip", "strip_left": False, "strip_right": True},
               {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]
NUL_CANDIDATES = ("\U000F0000", "\U00100000", "\U000FFFFD")  # private use, planes 15 and 16
PRE_TOKENIZER = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                 "split": True}


def is_unigram(tokenizer) -> bool:
    """Whether `tokenizer` is a fast tokenizer with a unigram (SentencePiece) model."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.model).__name__ == "Unigram"


def hf_unigram_settings(tokenizer) -> dict[str, Any]:
    """What the in-graph tokenizer needs from a Hugging Face fast XLM-R style tokenizer.

    Raises ConfigError for unigram tokenizers it cannot reproduce (other normalisers or
    pre-tokenisers, byte fallback, ...).
    """
    if not is_unigram(tokenizer):
        raise ConfigError(f"{type(tokenizer).__name__} is not a fast tokenizer with a unigram "
                          f"(SentencePiece) model")
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model, normalizer = spec["model"], spec.get("normalizer") or {}
    if model.get("byte_fallback"):
        raise ConfigError("in-graph SentencePiece tokenisation does not reproduce byte fallback")
    steps = normalizer.get("normalizers", [])
    found = [{key: step.get(key) for key in expected} for step, expected in zip(steps, NORMALIZERS)]
    if normalizer.get("type") != "Sequence" or found != NORMALIZERS:
        raise ConfigError(f"in-graph SentencePiece tokenisation supports XLM-R style "
                          f"tokenizers only: the normalizer is {json.dumps(normalizer)[:300]}, "
                          f"not the sequence {[step['type'] for step in NORMALIZERS]}")
    pre_tokenizer = {key: (spec.get("pre_tokenizer") or {}).get(key) for key in PRE_TOKENIZER}
    if pre_tokenizer != PRE_TOKENIZER:
        raise ConfigError(f"in-graph SentencePiece tokenisation needs the pre-tokenizer "
                          f"{PRE_TOKENIZER}, not {spec.get('pre_tokenizer')}")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if tokenizer.build_inputs_with_special_tokens([7]) != [cls_id, 7, sep_id]:
        raise ConfigError("the tokenizer does not frame a text as <s> text </s>")
    added = spec.get("added_tokens", [])
    single_word = [token["content"] for token in added if token.get("single_word")]
    if single_word:
        raise ConfigError(f"added tokens {single_word} use single_word, which in-graph "
                          f"tokenisation does not reproduce")
    return {"pieces": [piece for piece, _ in model["vocab"]],
            "scores": [score for _, score in model["vocab"]], "unk_id": model["unk_id"],
            "charsmap": base64.b64decode(steps[0]["precompiled_charsmap"]),
            "added_tokens": [{"id": t["id"], "content": t["content"], "lstrip": bool(t["lstrip"]),
                              "rstrip": bool(t["rstrip"])} for t in added],
            "cls_id": cls_id, "sep_id": sep_id, "pad_id": tokenizer.pad_token_id,
            "nul_stand_in": nul_stand_in(tokenizer)}


def nul_stand_in(tokenizer) -> str | None:
    """A character the tokenizer treats as it treats NUL (an unknown character that its
    normaliser keeps), to put in NUL's place: SentencePiece ends a text at NUL. None if
    no candidate behaves so."""
    probes = ["a\x00b", "\x00", "쯧\x00쯧 \x00"]
    expected = tokenizer(probes, add_special_tokens=False)["input_ids"]
    for candidate in NUL_CANDIDATES:
        swapped = [probe.replace("\x00", candidate) for probe in probes]
        if tokenizer(swapped, add_special_tokens=False)["input_ids"] == expected:
            return candidate
    return None


def sentencepiece_model(settings: dict[str, Any]) -> bytes:
    """A serialised SentencePiece unigram model whose ids are the tokenizer's: added tokens
    are control pieces (never matched in text), scores rounded to `SCORE_GRID`."""
    try:
        from sentencepiece import sentencepiece_model_pb2 as sp_pb2
    except ImportError as err:
        raise ConfigError(f"exporting a SentencePiece tokenizer needs the sentencepiece "
                          f"package: pip install 'tl_text[e5]' ({err})") from err
    proto = sp_pb2.ModelProto()
    proto.trainer_spec.model_type = sp_pb2.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id = settings["unk_id"]
    proto.trainer_spec.bos_id = proto.trainer_spec.eos_id = proto.trainer_spec.pad_id = -1
    proto.normalizer_spec.name = "tl_text-precompiled"
    proto.normalizer_spec.precompiled_charsmap = settings["charsmap"]
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    proto.normalizer_spec.escape_whitespaces = True
    kinds = sp_pb2.ModelProto.SentencePiece
    added = {token["id"] for token in settings["added_tokens"]}
    for i, (piece, score) in enumerate(zip(settings["pieces"], settings["scores"])):
        kind = (kinds.UNKNOWN if i == settings["unk_id"] else kinds.CONTROL if i in added
                else kinds.NORMAL)
        proto.pieces.add(piece=piece, score=round(score / SCORE_GRID) * SCORE_GRID, type=kind)
    return proto.SerializeToString()


class SentencePieceTokenizer(FramedTokenizer):
    """Raw strings [batch] -> padded model inputs, as `TransformerClassifier` builds them.

    `settings` comes from `hf_unigram_settings`; the SentencePiece model is a constant of the
    graph (no asset file).
    """

    def __init__(self, settings: dict[str, Any], max_length: int, truncation: str,
                 input_names: list[str]):
        super().__init__("sentencepiece_tokenizer", settings, max_length, truncation,
                         input_names)
        self.sentencepiece = tf_text.SentencepieceTokenizer(sentencepiece_model(settings))
        self.nul_stand_in = settings["nul_stand_in"]
        self.added_pattern = added_token_pattern(settings["added_tokens"])
        if self.added_pattern:
            self.added_ids = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                [t["content"] for t in settings["added_tokens"]],
                tf.constant([t["id"] for t in settings["added_tokens"]], tf.int64)), -1)

    def pieces(self, text: tf.Tensor) -> tf.RaggedTensor:
        """int64 [batch, (pieces)]: the untruncated ids without special tokens."""
        if self.nul_stand_in is not None:
            text = tf.strings.regex_replace(text, r"\x00", self.nul_stand_in)
        if not self.added_pattern:
            return self._encode(text)
        # the text between added tokens is tokenised on its own, each added token is one id
        segments = tf_text.regex_split(text, self.added_pattern, self.added_pattern)
        flat = segments.flat_values
        added = tf.strings.regex_full_match(flat, self.added_pattern)
        ids = self._encode(tf.where(added, "", flat))
        content = tf.strings.regex_replace(flat, rf"^{WHITESPACE}+|{WHITESPACE}+$", "")
        tokens = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(self.added_ids.lookup(content), added), tf.cast(added, tf.int64))
        ids = tf.concat([ids, tokens], axis=1)  # each segment has one of the two
        return segments.with_flat_values(ids).merge_dims(1, 2)

    def _encode(self, text: tf.Tensor) -> tf.RaggedTensor:
        """int64 [texts, (pieces)]: SentencePiece on each space-separated word."""
        words = tf.strings.split(text, " ")
        return tf.cast(self.sentencepiece.tokenize(words).merge_dims(1, 2), tf.int64)
