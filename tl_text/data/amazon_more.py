"""The larger Amazon review collections of `amazon/more/`, as polarity `Example`s.

- FDU-MTL (Liu et al., 2017): `mtl-dataset/<domain>.task.{train,test}`, `LABEL<TAB>text`,
  lower-cased and tokenised; `.task.unlabel` holds raw unlabelled reviews (`unlabelled=True`).
  The published files hold a few cut UTF-8 sequences (e.g. dvd.task.train line 905): they
  are read as U+FFFD, not as an error
- HATN raw data (Li et al., 2018): `raw_data/<domain>/review_{positive,negative}`, one
  `Title. body` review a line, HTML entities kept
- McAuley 2018 5-core JSON lines (`*.json.gz`): `overall` stars, `summary`, `reviewText`
- the earphone review CSV: header `ReviewTitle,ReviewBody,ReviewStar,Product`

Stars map to polarity: 1-2 negative, 4-5 positive, 3 dropped. Records without review text
are dropped too (a McAuley record may lack `reviewText`). Labels: 0 = neg, 1 = pos, and -1
for unlabelled reviews.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Iterator

from tl_text.data.archives import tar_files
from tl_text.data.dataset import Example
from tl_text.data.files import iter_records
from tl_text.data.lines import decode_lines, read_lines
from tl_text.errors import DataError

UNLABELLED = -1
FDU_LABELS = {"0": 0, "1": 1}
HATN_LABELS = {"review_negative": 0, "review_positive": 1}


def star_polarity(stars: float) -> int | None:
    """1-2 stars -> 0 (neg), 4-5 -> 1 (pos), 3 -> None (dropped)."""
    if not 1 <= stars <= 5:
        raise ValueError(f"stars must be 1-5, got {stars:g}")
    return None if stars == 3 else int(stars > 3)


def iter_fdu_mtl(archive: Path, unlabelled: bool = False) -> Iterator[Example]:
    """Labelled reviews of every domain's train and test files (or the unlabelled ones)."""
    wanted = ("unlabel",) if unlabelled else ("train", "test")
    for member, lines in _tar_members(archive, errors="replace"):
        domain, _, split = Path(member).name.partition(".task.")
        if split not in wanted:
            continue
        for lineno, line in lines:
            if not line.strip():
                continue
            tag, sep, text = line.partition("\t")
            if unlabelled:  # raw text, one review a line; a label column, where present, goes
                tag, sep, text = "", "\t", text if tag in FDU_LABELS else line
            label = UNLABELLED if unlabelled else FDU_LABELS.get(tag)
            if not sep or label is None:
                raise DataError(f"{archive}:{member}", f"expected LABEL<TAB>text with label "
                                                       f"0 or 1, got {line[:40]!r}", line=lineno)
            if text.strip():
                yield Example(f"fdu-mtl/{domain}/{split}/{lineno}", text.strip(), label,
                              {"domain": domain})


def iter_hatn(archive: Path) -> Iterator[Example]:
    """Reviews of `raw_data/<domain>/review_{positive,negative}`, entities unescaped."""
    for member, lines in _tar_members(archive):
        parts = Path(member).parts
        if parts[-1] not in HATN_LABELS:
            continue
        domain, label = parts[-2], HATN_LABELS[parts[-1]]
        for lineno, line in lines:
            text = html.unescape(line).strip()
            if text:
                yield Example(f"hatn/{domain}/{parts[-1]}/{lineno}", text, label,
                              {"domain": domain})


def iter_mcauley(path: Path) -> Iterator[Example]:
    """A McAuley 2018 review file (JSON lines, optionally .gz): `summary: reviewText`."""
    category = Path(path).name.split(".")[0].removesuffix("_5")
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            stars = float(record["overall"])
            label = star_polarity(stars)
        except json.JSONDecodeError as err:
            raise DataError(path, f"invalid JSON ({err.msg})", line=lineno) from None
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(path, f"bad star rating ({err})", line=lineno,
                            field="overall") from None
        body = record.get("reviewText")
        if label is None or not isinstance(body, str) or not body.strip():
            continue
        text = title_body(str(record.get("summary") or ""), body)
        yield Example(f"mcauley/{category}/{lineno}", text, label,
                      {"domain": category, "rating": stars})


def iter_earphones(path: Path) -> Iterator[Example]:
    """The earphone review CSV (quoted fields span lines): `ReviewTitle: ReviewBody`."""
    for lineno, record in iter_records(path, "csv"):
        try:
            stars = float(record["ReviewStar"])
            label = star_polarity(stars)
        except KeyError:
            raise DataError(path, "no ReviewStar column", line=lineno) from None
        except ValueError as err:
            raise DataError(path, f"bad star rating ({err})", line=lineno,
                            field="ReviewStar") from None
        text = title_body(record.get("ReviewTitle", ""), record.get("ReviewBody", ""))
        if label is not None and text:
            yield Example(f"earphones/{lineno}", text, label,
                          {"domain": record.get("Product", ""), "rating": stars})


def title_body(title: str, body: str) -> str:
    """"Title: body", or whichever of the two is non-empty."""
    title, body = title.strip(), body.strip()
    return f"{title}: {body}" if title and body else title or body


def _tar_members(archive: Path, errors: str = "strict"
                 ) -> Iterator[tuple[str, Iterator[tuple[int, str]]]]:
    """(member name, numbered UTF-8 lines) for each file of a tar archive; `errors` as in
    `bytes.decode` ("strict": a bad byte is a DataError naming member and line)."""
    for member, raw in tar_files(archive):
        stream = io.BytesIO(raw)
        yield member, (decode_lines(stream, f"{archive}:{member}") if errors == "strict" else
                       _lenient_lines(stream, errors))


def _lenient_lines(stream, errors: str) -> Iterator[tuple[int, str]]:
    for lineno, raw in enumerate(stream, start=1):
        yield lineno, raw.decode("utf-8", errors).rstrip("\r\n")
