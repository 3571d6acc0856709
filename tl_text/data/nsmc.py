"""NSMC, the Naver sentiment movie corpus (Korean): `ratings_{train,test}.txt`.

Tab-separated with header `id document label` (0 negative, 1 positive). The official files
hold a handful of empty documents; pass `skip_empty=True` to drop them instead of failing.
A file with that header given by path (`load_corpus("data/nsmc/ratings_train.txt")`) is read
the same way.
"""

from __future__ import annotations

from typing import Iterable

from tl_text.data.dataset import TextDataset
from tl_text.data.files import load_table
from tl_text.data.lines import read_lines
from tl_text.data.paths import locate

URL = "https://raw.githubusercontent.com/e9t/nsmc/master/ratings_{split}.txt"
LABEL_NAMES = ("neg", "pos")
SPLITS = ("train", "test")
HEADER = "id\tdocument\tlabel"


def load_nsmc(splits: Iterable[str] = SPLITS, data_dir=None,
              skip_empty: bool = False) -> dict[str, TextDataset]:
    """{split: TextDataset} from `<data root>/nsmc/ratings_<split>.txt` (downloaded if absent)."""
    out = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown NSMC split {split!r}; choose from {SPLITS}")
        path = locate(f"nsmc/ratings_{split}.txt", data_dir, URL.format(split=split))
        out[split] = read_nsmc(path, skip_empty, name=f"nsmc/{split}")
    return out


def read_nsmc(path, skip_empty: bool = False, name: str | None = None) -> TextDataset:
    """One file in NSMC's format."""
    return load_table(path, text_column="document", label_column="label", labels=["0", "1"],
                      label_names=LABEL_NAMES, id_column="id", fmt="tsv",
                      skip_empty=skip_empty, name=name)


def is_nsmc_file(path) -> bool:
    """Whether the file's first line is NSMC's header."""
    return next(read_lines(path), (0, ""))[1] == HEADER
