"""Amazon review corpora in their three classic formats, and `load_amazon` over every Amazon
review of the data root (`amazon_more` reads the larger collections). Labels: 0 = neg, 1 = pos.

- fastText (`__label__1|2 Title: body`, one review a line; `.ft.txt`, optionally .bz2/.gz)
- amazon_review_polarity_csv (Zhang et al., 2015): `"class","title","text"`, class 1|2,
  quotes doubled, newlines written as a literal backslash-n
- Blitzer et al. (2007) multi-domain `.review` files: pseudo-XML `<review>` blocks in
  `sorted_data_acl/<domain>/{positive,negative}.review`; rating 1-2 -> neg, 4-5 -> pos

Every reader streams; review texts are "Title: body" in all three.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
from pathlib import Path
from typing import Iterable, Iterator

from tl_text.data.amazon_more import (iter_earphones, iter_fdu_mtl, iter_hatn, iter_mcauley,
                                      title_body)
from tl_text.data.amazon_sources import fetch_amazon, iter_polarity_parquet
from tl_text.data.archives import tar_files
from tl_text.data.dataset import Example, TextDataset, concat
from tl_text.data.dedup import deduplicate
from tl_text.data.lines import decode_lines, read_lines
from tl_text.data.paths import data_root
from tl_text.errors import DataError

LABEL_NAMES = ("neg", "pos")
POLARITY_CLASSES = {"1": 0, "2": 1}
BLITZER_DOMAINS = ("books", "dvd", "electronics", "kitchen_&_housewares")


# --- fastText -------------------------------------------------------------------------------

def iter_fasttext(path: Path, skip_empty: bool = False) -> Iterator[Example]:
    """Stream a fastText-format review file."""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        tag, _, text = line.partition(" ")
        label = POLARITY_CLASSES.get(tag.removeprefix("__label__")) \
            if tag.startswith("__label__") else None
        if label is None:
            raise DataError(path, f"unknown label {tag[:40]!r} (expected __label__1 or "
                                  "__label__2)", line=lineno)
        text = text.strip()
        if not text:
            if skip_empty:
                continue
            raise DataError(path, "label without review text", line=lineno)
        yield Example(f"{Path(path).name}:{lineno}", text, label)


# --- amazon_review_polarity_csv ------------------------------------------------------------

def iter_polarity_csv(path: Path, skip_empty: bool = False) -> Iterator[Example]:
    """Stream amazon_review_polarity_csv `train.csv` / `test.csv`."""
    # read_lines drops the line breaks: csv.reader needs them back to keep a quoted one
    reader = csv.reader(line + "\n" for _, line in read_lines(path))
    next_start = 1
    try:
        for row in reader:
            lineno, next_start = next_start, reader.line_num + 1  # the record's first line
            if not row:
                continue
            if len(row) != 3:
                raise DataError(path, f"expected 3 fields (class,title,text), got {len(row)}",
                                line=lineno)
            cls, title, body = row
            if cls not in POLARITY_CLASSES:
                raise DataError(path, f"unknown class {cls[:40]!r} (expected 1 or 2)",
                                line=lineno, field="class")
            text = title_body(title.replace("\\n", " "), body.replace("\\n", " "))
            if not text:
                if skip_empty:
                    continue
                raise DataError(path, "empty review", line=lineno, field="text")
            yield Example(f"{Path(path).name}:{lineno}", text, POLARITY_CLASSES[cls])
    except csv.Error as err:
        raise DataError(path, f"malformed CSV ({err})", line=next_start) from err


# --- Blitzer multi-domain sentiment ----------------------------------------------------------

def iter_review_file(stream: Iterable[tuple[int, str]], source: str,
                     domain: str) -> Iterator[Example]:
    """Parse the pseudo-XML `<review>` blocks of one `.review` file."""
    fields: dict[str, str] = {}
    tag, start = None, 0
    for lineno, line in stream:
        stripped = line.strip()
        if stripped == "<review>":
            fields, tag, start = {}, None, lineno
        elif stripped == "</review>":
            yield _blitzer_example(fields, source, start, domain)
            fields, tag = {}, None
        elif tag and stripped == f"</{tag}>":
            tag = None
        elif tag:
            fields[tag] = f"{fields[tag]}\n{line}" if fields[tag] else line
        elif stripped.startswith("<") and stripped.endswith(">") and "/" not in stripped:
            tag = stripped[1:-1]
            fields[tag] = ""


def _blitzer_example(fields: dict, source: str, lineno: int, domain: str) -> Example:
    try:
        rating = float(fields["rating"])
    except KeyError:
        raise DataError(source, "review without <rating>", line=lineno) from None
    except ValueError:
        raise DataError(source, f"bad rating {fields['rating'][:20]!r}", line=lineno) from None
    if rating == 3:
        raise DataError(source, "rating 3 is neither positive nor negative", line=lineno)
    text = html.unescape(title_body(fields.get("title", ""), fields.get("review_text", "")))
    if not text:
        raise DataError(source, "review without text", line=lineno, field="review_text")
    review_id = fields.get("unique_id", "").strip() or str(lineno)
    return Example(f"{domain}/{review_id}", text, int(rating > 3),
                   {"domain": domain, "rating": rating})


def load_blitzer(path: Path, domains: Iterable[str] | None = None) -> dict[str, TextDataset]:
    """{domain: TextDataset} from the `sorted_data_acl` tar.gz or folder (default: every
    domain found there)."""
    path = Path(path)
    wanted = set(domains) if domains else None
    examples: dict[str, list[Example]] = {}
    for member, domain, lines in _review_files(path):
        if wanted is None or domain in wanted:
            examples.setdefault(domain, []).extend(iter_review_file(lines, member, domain))
    missing = sorted((wanted or set()) - examples.keys())
    if missing or not examples:
        raise DataError(path, f"no positive/negative .review files{' for ' * bool(missing)}"
                              f"{', '.join(missing)}")
    return {d: TextDataset.from_examples(f"blitzer/{d}", sorted(ex, key=lambda e: e.id),
                                         LABEL_NAMES)
            for d, ex in sorted(examples.items())}


def _review_files(path: Path):
    """(member name, domain, numbered lines) for each {positive,negative}.review."""
    if path.is_dir():
        for file in sorted(path.rglob("*.review")):
            if file.stem in ("positive", "negative"):
                yield str(file), file.parent.name, read_lines(file)
        return
    review_files = tar_files(path, lambda name: Path(name).name in ("positive.review",
                                                                   "negative.review"))
    for member, raw in review_files:
        where = f"{path}:{member}"
        yield where, Path(member).parts[-2], decode_lines(io.BytesIO(raw), where)


# --- the amazon/ folder ---------------------------------------------------------------------

def load_amazon(data_dir=None, folder: Path | None = None, skip_empty: bool = False,
                limit: int | None = None, more: bool = True, exclude: Iterable[str] = ()
                ) -> TextDataset:
    """Every labelled Amazon review in `<data root>/amazon/`, each kept once.

    Top-level files: fastText (`*.ft.txt*`), polarity CSV (`*.csv`) or parquet, the Blitzer
    archive or folder; with `more`, also the collections of `amazon/more/` (`amazon_more`).
    A folder with none of these gets the public ones downloaded (`fetch_amazon`).
    Reviews repeated across files, or whose text is in `exclude` (an evaluation split), are
    dropped (`dedup.text_key`); `info["duplicates removed"]` counts them per file and
    `extra["source"]` names each review's file. `limit` caps each top-level file.
    """
    folder = Path(folder) if folder else data_root(data_dir) / "amazon"
    parts = _classic_parts(folder, skip_empty, limit)
    if not parts and not (folder / "more").is_dir():
        fetch_amazon(folder)  # a fresh machine: the Blitzer archive and a polarity shard
        parts = _classic_parts(folder, skip_empty, limit)
    if more and (folder / "more").is_dir():
        parts.extend(_more_parts(folder / "more"))
    if not parts:
        raise DataError(folder, "no Amazon review files (*.ft.txt*, *.csv, *.parquet, "
                                "*sorted_data_acl*, more/) found")
    amazon, removed = deduplicate("amazon", parts, exclude)
    amazon.info["duplicates removed"] = removed
    return amazon


def _classic_parts(folder: Path, skip_empty: bool, limit: int | None) -> list[TextDataset]:
    """One dataset per review file at the top of `folder`, recognised by its name."""
    parts = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = path.name
        if ".ft.txt" in name:
            parts.append(_collect(name, iter_fasttext(path, skip_empty), limit))
        elif name.endswith(".parquet"):
            parts.append(_collect(name, iter_polarity_parquet(path, skip_empty), limit))
        elif name.endswith((".csv", ".csv.gz", ".csv.bz2")):
            parts.append(_collect(name, iter_polarity_csv(path, skip_empty), limit))
        elif "sorted_data_acl" in name:
            parts.append(concat(f"amazon/{name}", list(load_blitzer(path).values())))
    return parts


def load_amazon_unlabelled(data_dir=None, folder: Path | None = None) -> TextDataset:
    """The unlabelled reviews of `amazon/more/` (FDU-MTL's `.task.unlabel`), each kept once
    and none that is also a labelled review (label -1)."""
    folder = Path(folder) if folder else data_root(data_dir) / "amazon"
    archives = sorted((folder / "more").glob("fdu-mtl*.tar*"))
    if not archives:
        raise DataError(folder / "more", "no unlabelled Amazon reviews (fdu-mtl*.tar.gz)")
    parts = [_collect(p.name, iter_fdu_mtl(p, unlabelled=True), None) for p in archives]
    amazon, removed = deduplicate("amazon/unsup", parts, load_amazon(folder=folder).texts)
    amazon.info["duplicates removed"] = removed
    return amazon


def _more_parts(folder: Path) -> list[TextDataset]:
    """One dataset per review file of `amazon/more/`, recognised by its name."""
    parts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name, relative = path.name, path.relative_to(folder).as_posix()
        if name.startswith("fdu-mtl") and ".tar" in name:
            parts.append(_collect(relative, iter_fdu_mtl(path), None))
        elif name.startswith("hatn") and ".tar" in name:
            parts.append(_collect(relative, iter_hatn(path), None))
        elif name.endswith((".json", ".json.gz")):
            parts.append(_collect(relative, iter_mcauley(path), None))
        elif name.startswith("AllProductReviews"):
            parts.append(_collect(relative, iter_earphones(path), None))
    return parts


def _collect(name: str, examples: Iterator[Example], limit: int | None) -> TextDataset:
    return TextDataset.from_examples(f"amazon/{name}", itertools.islice(examples, limit),
                                     LABEL_NAMES)
