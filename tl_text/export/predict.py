"""Classify texts with an exported model, one JSON line per text on stdout.

    tl-text predict --model saved_models/imdb-kim "A gem of a film." "Two hours I won't get back."
    tl-text predict --model saved_models/imdb-kim --file reviews.txt   # one text per line
    tl-text predict --model saved_models/imdb-minilm-tflite "A gem."   # TFLite exports too
    cat reviews.txt | tl-text predict --model saved_models/imdb-kim

Each line reads {"text": ..., "label": ..., "probabilities": {label: p, ...}}, in the input's
order. A --file is read `SORTED_BATCHES` batches at a time, and those texts are batched by
length (a Kim CNN or a transformer pads each batch only to its longest text).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Iterable, Iterator

from tl_text.data.lines import read_lines
from tl_text.errors import DataError

SORTED_BATCHES = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    parser.add_argument("--model", required=True,
                        help="export base path (its highest version is used) or a version folder")
    parser.add_argument("--file", help="UTF-8 file (also .gz/.bz2/.xz) with one text per line; "
                                       "blank lines are skipped. Without TEXT or --file, "
                                       "texts are read from stdin")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="texts per model call")


def run_from_args(args: argparse.Namespace) -> None:
    from tl_text.export.savedmodel import load_exported  # TensorFlow: only when predicting
    from tl_text.export.tflite import load_tflite, tflite_folder

    model = load_tflite(args.model) if tflite_folder(args.model) else load_exported(args.model)
    labels = model.label_names
    chunk_size = args.batch_size * (SORTED_BATCHES if args.file else 1)
    for chunk in _batches(_texts(args), chunk_size):
        for text, result in zip(chunk, model.predict(chunk, args.batch_size)):
            line = {"text": text, "label": result["label"],
                    "probabilities": dict(zip(labels, result["probabilities"]))}
            print(json.dumps(line, ensure_ascii=False))
        sys.stdout.flush()


def _texts(args: argparse.Namespace) -> Iterator[str]:
    """TEXT arguments, then --file lines; stdin lines when neither is given."""
    if not args.texts and args.file is None:
        return _non_blank(_stdin_lines())
    from_file = (line for _, line in read_lines(args.file)) if args.file else ()
    return itertools.chain(args.texts, _non_blank(from_file))


def _stdin_lines() -> Iterator[str]:
    for lineno, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            yield raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            raise DataError("<stdin>", f"not UTF-8 ({err.reason} at byte {err.start})",
                            line=lineno) from err


def _non_blank(lines: Iterable[str]) -> Iterator[str]:
    return (line for line in lines if line.strip())


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    texts = iter(texts)
    while batch := list(itertools.islice(texts, size)):
        yield batch


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
