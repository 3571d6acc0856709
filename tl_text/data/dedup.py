"""Duplicate reviews across corpora, found by a normalised text key.

The same review reaches us in several shapes: "Title: body" or "Title. body", HTML entities
or not, lower-cased and tokenised (FDU-MTL writes `larkin 's ``the book''`). The key keeps the
last `KEY_CHARS` letters and digits of the lower-cased, entity-unescaped text, so a review
matches itself whatever its punctuation, case or spacing, and whatever its title once the
body has KEY_CHARS letters (shorter reviews match only with the same title).
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Sequence

import numpy as np

from tl_text.data.dataset import TextDataset, concat

KEY_CHARS = 60
_NOT_WORD = re.compile(r"[\W_]+")


def text_key(text: str) -> str:
    """The last KEY_CHARS letters/digits of the normalised text (any script)."""
    letters = _NOT_WORD.sub("", html.unescape(text).lower())
    return letters[-KEY_CHARS:] if letters else text.strip()


def deduplicate(name: str, parts: Sequence[TextDataset], exclude: Iterable[str] = ()
                ) -> tuple[TextDataset, dict[str, int]]:
    """`parts` joined with every review kept once (the first part that has it keeps it), and
    none whose key is among `exclude`'s (e.g. an evaluation split's texts).

    Returns the joined dataset, with `extra["source"]` naming each review's part (unless the
    parts record sources already), and the number of reviews dropped from each part.
    """
    seen = {text_key(text) for text in exclude}
    kept, removed = [], {}
    for part in parts:
        keep = []
        for i, text in enumerate(part.texts):
            key = text_key(text)
            if key not in seen:
                seen.add(key)
                keep.append(i)
        removed[part.name] = len(part) - len(keep)
        subset = part.subset(np.asarray(keep, dtype=np.int64))
        subset.extra.setdefault("source", [part.name] * len(subset))
        kept.append(subset)
    return concat(name, kept), removed
