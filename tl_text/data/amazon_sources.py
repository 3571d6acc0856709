"""The Amazon source corpora, downloaded into an empty `amazon/` folder, and the parquet reader.

- Blitzer et al. (2007) multi-domain sentiment, from the JHU page: saved as
  `sorted_data_acl.tar.gz` (`sorted_data_acl/<domain>/{positive,negative,unlabeled}.review`)
- Amazon review polarity (Zhang et al., 2015), from the Hugging Face Hub dataset
  `amazon_polarity`: parquet shards with columns label (0 neg, 1 pos), title, content, saved as
  `amazon_polarity_<shard>.parquet`
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from tl_text.data.amazon_more import title_body
from tl_text.data.dataset import Example
from tl_text.data.paths import download, download_error, verify
from tl_text.errors import DataError

BLITZER_URL = "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/domain_sentiment_data.tar.gz"
BLITZER_FILE = "sorted_data_acl.tar.gz"
# No checksum is published for this archive (not on the JHU page, nor in torchtext,
# tensorflow_datasets or Hugging Face metadata): the download checks its length against
# Content-Length, and fetch_amazon that it holds the labelled reviews.

POLARITY_REPO = "fancyzhx/amazon_polarity"  # the Hub's `amazon_polarity`, now under its author
POLARITY_REVISION = "9d9c45c18f8c3cf1b23a3c27917b60cbf28f3289"  # main since 2024-01-09
# SHA-256 of each shard at that revision (the Hub's LFS object ids, as quoted by projects that
# pin them: two independent ones for the test shard, one for the train shards).
# test: 400,000 reviews, 117 MB; train: 3,600,000 reviews in four shards of ~260 MB.
POLARITY_SHARDS = {
    "test-00000-of-00001": "65613cc6ec1ab30e19c4dcb8d8fa5612159d77bfa493704b4a9a9c167424992e",
    "train-00000-of-00004": "57c367f8c74210dde3742b17d103af33820df3af39d029f2a5051a6f87810661",
    "train-00001-of-00004": "14c7fee8f066fffc29eb906f80581836cca10218509a8ccf9898ff2a0c48f310",
    "train-00002-of-00004": "5af7b024d3c4b759c1538b1987ece5bac47ef49ee98f6731fd2336caac283dc9",
    "train-00003-of-00004": "04dcdf40f04b70dd213b910468049196c73e405decced4d292e10412bf248875",
}
POLARITY_COLUMNS = ["label", "title", "content"]


def fetch_amazon(folder: Path, shards: Iterable[str] = ("test-00000-of-00001",)) -> list[Path]:
    """Download the Blitzer archive (~30 MB) and the amazon_polarity parquet `shards` (default:
    the test split, 400,000 reviews, 117 MB) into `folder`; files already there are kept.

    Returns their paths. Offline, the DataError names the URL that failed and the file to
    put there by hand.
    """
    folder = Path(folder)
    return [_fetch_blitzer(folder)] + [_fetch_polarity(folder, shard) for shard in shards]


def _fetch_blitzer(folder: Path) -> Path:
    path = folder / BLITZER_FILE
    if path.exists():
        return path
    staged = folder / BLITZER_URL.rsplit("/", 1)[1]  # a name (and .part) no loader reads
    if not staged.exists():
        try:
            download(BLITZER_URL, staged)
        except OSError as err:
            raise download_error(BLITZER_URL, path, err, _hint(folder)) from err
    if not _holds_reviews(staged):
        staged.unlink()
        raise DataError(BLITZER_URL, "not the multi-domain sentiment archive (no "
                                     "sorted_data_acl/<domain>/positive.review); removed it")
    os.replace(staged, path)
    return path


def _holds_reviews(archive: Path) -> bool:
    try:
        with tarfile.open(archive, "r|gz") as tar:
            return any("sorted_data_acl" in Path(info.name).parts
                       and info.name.endswith("/positive.review") for info in tar)
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        return False


def _fetch_polarity(folder: Path, shard: str) -> Path:
    if shard not in POLARITY_SHARDS:
        raise ValueError(f"unknown amazon_polarity shard {shard!r}; choose from "
                         f"{', '.join(POLARITY_SHARDS)}")
    path = folder / f"amazon_polarity_{shard}.parquet"
    if path.exists():
        return path
    from huggingface_hub import hf_hub_download  # slow to import; only this download needs it

    filename = f"amazon_polarity/{shard}.parquet"
    url = (f"https://huggingface.co/datasets/{POLARITY_REPO}/resolve/{POLARITY_REVISION}/"
           f"{filename}")
    staging = folder / ".hf_download"  # the Hub client resumes from here after an interruption
    try:
        got = hf_hub_download(POLARITY_REPO, filename, repo_type="dataset",
                              revision=POLARITY_REVISION, local_dir=staging)
    except OSError as err:  # connection, HTTP and offline-mode errors all derive from OSError
        raise download_error(url, path, err, _hint(folder)) from err
    verify(Path(got), POLARITY_SHARDS[shard], url)
    os.replace(got, path)
    shutil.rmtree(staging, ignore_errors=True)
    return path


def _hint(folder: Path) -> str:
    return (f"put any Amazon review file (*.ft.txt*, *.csv, *.parquet, *sorted_data_acl*) in "
            f"{folder}")


def iter_polarity_parquet(path: Path, skip_empty: bool = False) -> Iterator[Example]:
    """Stream an amazon_polarity parquet shard, one row group at a time.

    Ids are `<file name>:<row>`, rows counted from 1 like the lines of the polarity CSV.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = Path(path).name
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as err:
        raise DataError(path, f"not a readable parquet file ({err})") from err
    missing = [c for c in POLARITY_COLUMNS if c not in parquet.schema_arrow.names]
    if missing:
        raise DataError(path, f"no column {', '.join(missing)} (expected label, title, "
                              "content)")
    row = 0
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=POLARITY_COLUMNS)
        for label, title, body in zip(*(table[c].to_pylist() for c in POLARITY_COLUMNS)):
            row += 1
            if label not in (0, 1):
                raise DataError(f"{path}, row {row}", f"unknown label {label!r} (expected 0 "
                                                      "or 1)", field="label")
            text = title_body((title or "").replace("\\n", " "), (body or "").replace("\\n", " "))
            if not text:
                if skip_empty:
                    continue
                raise DataError(f"{path}, row {row}", "empty review", field="content")
            yield Example(f"{name}:{row}", text, label)
