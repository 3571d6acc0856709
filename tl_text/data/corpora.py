"""One entry point for every corpus: `load_corpus("imdb")`, `load_corpus("path/to/file.csv")`."""

from __future__ import annotations

import re
from pathlib import Path

from tl_text.data.amazon import (BLITZER_DOMAINS, LABEL_NAMES, iter_fasttext, iter_polarity_csv,
                                 iter_review_file, load_amazon, load_amazon_unlabelled,
                                 load_blitzer)
from tl_text.data.dataset import TextDataset
from tl_text.data.files import load_table
from tl_text.data.imdb import load_imdb
from tl_text.data.lines import read_lines
from tl_text.data.nsmc import is_nsmc_file, load_nsmc, read_nsmc
from tl_text.data.paths import data_root
from tl_text.errors import DataError

TSV = re.compile(r"\.(txt|tsv)(\.(gz|bz2|xz))?$", re.IGNORECASE)
BLITZER_ALIASES = {"kitchen": "kitchen_&_housewares"}
NAMES = ("imdb", "nsmc", "amazon", "amazon-classic", "blitzer", "books", "dvd", "electronics",
         "kitchen")


def load_corpus(source: str, data_dir=None, skip_empty: bool = False, unlabelled: bool = False,
                **table_options) -> dict[str, TextDataset]:
    """{split: TextDataset} for a corpus name (see NAMES) or a file/folder path.

    Names read from the data root: imdb -> train/test, nsmc -> train/test,
    amazon -> train (every Amazon review, deduplicated), amazon-classic -> train (the files
    at the top of amazon/ only: round 1's 14k-review source), blitzer -> one split per domain,
    books/dvd/electronics/kitchen -> that Blitzer domain as "all". With `unlabelled`, imdb
    and amazon also return their unlabelled reviews as "unsup" (label -1).
    Paths: aclImdb archive or folder, a Blitzer archive/folder or `.review` file,
    a fastText `.ft.txt`, an amazon_review_polarity `.csv` (three unnamed columns), an NSMC
    file (`.txt`/`.tsv` with header `id document label`), or any CSV/TSV/JSONL with a header
    (`table_options` go to `load_table`; None means unset).
    """
    table_options = {k: v for k, v in table_options.items() if v is not None}
    name = source.lower()
    if name == "imdb":
        return load_imdb(("train", "test", "unsup")[:2 + unlabelled], data_dir=data_dir)
    if name == "nsmc":
        return load_nsmc(data_dir=data_dir, skip_empty=skip_empty)
    if name in ("amazon", "amazon-classic"):
        splits = {"train": load_amazon(data_dir, skip_empty=skip_empty,
                                       more=name == "amazon")}
        if unlabelled and name == "amazon":
            splits["unsup"] = load_amazon_unlabelled(data_dir)
        return splits
    if name == "blitzer" or name in BLITZER_ALIASES or name in BLITZER_DOMAINS:
        domains = None if name == "blitzer" else [BLITZER_ALIASES.get(name, name)]
        return load_blitzer(_blitzer_source(data_dir), domains)
    return _load_path(Path(source), skip_empty, table_options)


def _load_path(path: Path, skip_empty: bool, table_options: dict) -> dict[str, TextDataset]:
    if not path.exists():
        raise DataError(path, f"no such file, and not a corpus name ({', '.join(NAMES)})")
    name = path.name
    if "aclImdb" in name:
        return load_imdb(("train", "test"), path=path)
    if "sorted_data_acl" in name:
        return load_blitzer(path)
    if name.endswith(".review"):
        domain = path.parent.name
        examples = iter_review_file(read_lines(path), str(path), domain)
        return {domain: TextDataset.from_examples(domain, examples, LABEL_NAMES)}
    if ".ft.txt" in name:
        return {"all": TextDataset.from_examples(name, iter_fasttext(path, skip_empty),
                                                 LABEL_NAMES)}
    if name.endswith(".csv") and _is_polarity_csv(path) and not table_options:
        return {"all": TextDataset.from_examples(name, iter_polarity_csv(path, skip_empty),
                                                 LABEL_NAMES)}
    if TSV.search(name) and not table_options and is_nsmc_file(path):
        return {"all": read_nsmc(path, skip_empty, name)}
    return {"all": load_table(path, skip_empty=skip_empty, **table_options)}


def _blitzer_source(data_dir) -> Path:
    folder = data_root(data_dir) / "amazon"
    for candidate in (folder / "sorted_data_acl",
                      folder / "multi_domain_sentiment_sorted_data_acl.tar.gz"):
        if candidate.exists():
            return candidate
    raise DataError(folder, "no Blitzer data (sorted_data_acl/ or "
                            "multi_domain_sentiment_sorted_data_acl.tar.gz)")


def _is_polarity_csv(path: Path) -> bool:
    """amazon_review_polarity_csv files have no header: the first field is "1" or "2"."""
    first = next(read_lines(path), (0, ""))[1]
    return first.startswith(('"1",', '"2",', "1,", "2,"))
