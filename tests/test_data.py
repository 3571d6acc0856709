"""Loaders on the real shared corpora, sampling, and one clear error per kind of bad input."""

import gzip
import io
import json
import re
import shutil
import tarfile

import numpy as np
import pytest

from tl_text.cli import main
from tl_text.data import (describe, iter_fasttext, load_amazon, load_blitzer, load_corpus,
                          load_imdb, load_nsmc, load_table)
from tl_text.data.amazon_more import iter_fdu_mtl, iter_hatn
from tl_text.data.dataset import TextDataset
from tl_text.errors import DataError


# --- real corpora ---------------------------------------------------------------------------

def test_imdb_counts_and_known_reviews(imdb):
    train, test = imdb["train"], imdb["test"]
    assert len(train) == len(test) == 25_000
    assert train.class_counts() == {"neg": 12_500, "pos": 12_500}
    assert test.class_counts() == {"neg": 12_500, "pos": 12_500}
    first = train.ids.index("train/pos/0")
    assert train.texts[first].startswith("Bromwell High is a cartoon comedy.")
    assert train.labels[first] == 1 and train.extra["rating"][first] == 9
    other = test.ids.index("test/neg/0")
    assert test.texts[other].startswith("Once again Mr. Costner has dragged out a movie")
    assert test.labels[other] == 0 and test.extra["rating"][other] == 2
    assert not any("<br" in t for t in train.texts[:2000])
    assert all(r >= 7 for r, y in zip(train.extra["rating"], train.labels) if y == 1)


def test_imdb_unsup_split(data_dir):
    unsup = load_imdb(["unsup"], data_dir=data_dir)["unsup"]
    assert len(unsup) == 50_000
    assert set(unsup.labels.tolist()) == {-1}
    assert unsup.class_counts() == {"neg": 0, "pos": 0}
    row = describe({"unsup": unsup}, samples=1).splitlines()[2]
    assert row.startswith("| unsup | 50,000 | – | – |")


def test_nsmc_counts(data_dir):
    nsmc = load_nsmc(data_dir=data_dir)
    assert len(nsmc["train"]) == 150_000 and len(nsmc["test"]) == 50_000
    assert sum(nsmc["train"].class_counts().values()) == 150_000
    test = nsmc["test"]
    i = test.ids.index("5533727")
    assert test.texts[i] == "택시의 명성에 개먹칠" and test.labels[i] == 0


def test_blitzer_domains(data_dir):
    domains = load_blitzer(data_dir / "amazon" / "multi_domain_sentiment_sorted_data_acl.tar.gz")
    assert sorted(domains) == ["books", "dvd", "electronics", "kitchen_&_housewares"]
    for ds in domains.values():
        assert ds.class_counts() == {"neg": 1_000, "pos": 1_000}
    books = domains["books"]
    i = next(i for i, t in enumerate(books.texts) if t.startswith("One of the best Crichton"))
    assert books.labels[i] == 1 and books.extra["rating"][i] == 5.0
    assert "Sphere by Michael Crichton is an excellant novel." in books.texts[i]
    assert not any("&amp;" in t for ds in domains.values() for t in ds.texts)


def test_amazon_fasttext_file(data_dir):
    path = data_dir / "amazon" / "amazon_polarity_test_head6459.ft.txt"
    examples = list(iter_fasttext(path))
    assert len(examples) == 6_459
    assert sum(e.label == 0 for e in examples) == 3_137
    assert examples[0].label == 1 and examples[0].text.startswith("Great CD: My lovely Pat")


def test_amazon_classic_joins_the_top_level_files_once_each(data_dir):
    amazon = load_amazon(data_dir, more=False)
    # the fastText head and the Blitzer archive share 6 reviews (normalised text); the
    # Blitzer archive repeats 150 of its own
    assert amazon.info["duplicates removed"] == {
        "amazon/amazon_polarity_test_head6459.ft.txt": 5,
        "amazon/multi_domain_sentiment_sorted_data_acl.tar.gz": 156}
    assert len(amazon) == 6_459 + 8_000 - 161
    assert len(set(amazon.ids)) == len(amazon)


def test_corpus_names_and_describe(data_dir):
    splits = load_corpus("kitchen", data_dir=data_dir)
    assert list(splits) == ["kitchen_&_housewares"]
    text = describe(splits)
    assert "| kitchen_&_housewares | 2,000 | 1,000 (50.0%) | 1,000 (50.0%) |" in text


# --- sampling -------------------------------------------------------------------------------

def test_fraction_is_stratified_and_deterministic(imdb):
    five = imdb["train"].fraction(0.05, seed=0)
    assert len(five) == 1_250 and five.class_counts() == {"neg": 625, "pos": 625}
    again = imdb["train"].shuffled(seed=7).fraction(0.05, seed=0)
    assert sorted(again.ids) == sorted(five.ids)
    other = imdb["train"].fraction(0.05, seed=1)
    assert set(other.ids) != set(five.ids)


def test_validation_split_is_disjoint_and_stratified(imdb):
    train, valid = imdb["train"].fraction(0.05).split(validation=0.2, seed=0)
    assert valid.class_counts() == {"neg": 125, "pos": 125}
    assert len(train) == 1_000 and not set(train.ids) & set(valid.ids)


def test_dataset_rejects_misaligned_fields():
    with pytest.raises(ValueError, match="3 texts"):
        TextDataset("x", ["a", "b"], ["t1", "t2", "t3"], np.array([0, 1, 0]), ("n", "p"))


# --- generic tables ---------------------------------------------------------------------------

def test_csv_tsv_jsonl_tables(tmp_path):
    (tmp_path / "r.csv").write_text('id,review,stars\n1,"Good, ""really"" good",pos\n'
                                    '2,Awful,neg\n')
    (tmp_path / "r.tsv").write_text('review\tstars\n"quoted" stays\t1\nplain\t0\n')
    (tmp_path / "r.jsonl").write_text(json.dumps({"t": "fine", "y": 1}) + "\n\n"
                                      + json.dumps({"t": "bad", "y": 0}) + "\n")
    csv_ds = load_table(tmp_path / "r.csv", "review", "stars", labels=["neg", "pos"],
                        id_column="id")
    assert csv_ds.texts == ['Good, "really" good', "Awful"] and list(csv_ds.labels) == [1, 0]
    assert csv_ds.ids == ["1", "2"]
    tsv_ds = load_table(tmp_path / "r.tsv", "review", "stars")
    assert tsv_ds.texts[0] == '"quoted" stays' and tsv_ds.label_names == ("0", "1")
    jsonl_ds = load_table(tmp_path / "r.jsonl", "t", "y", label_names=["neg", "pos"])
    assert list(jsonl_ds.labels) == [1, 0] and jsonl_ds.label_names == ("neg", "pos")


def test_gzip_table(tmp_path):
    path = tmp_path / "r.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("text\tlabel\nhello\t1\nbye\t0\n")
    assert len(load_table(path)) == 2


# --- bad input: one clear message naming file and line ------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"text,label\nok,1\n,0\n", r"r\.csv, line 3, field 'text': empty document"),
    (b"text,label\nok,1\nfine,7\n", r"r\.csv, line 3, field 'label': unknown label '7'"),
    (b"text,label\nok,1\nfine\n", r"r\.csv, line 3: expected 2 fields"),
    (b"text,label\nok,1\ncaf\xe9,1\n", r"r\.csv, line 3: not UTF-8"),
    (b"body,label\nok,1\n", r"r\.csv, line 2: no column 'text'"),
    (b"", r"r\.csv: empty file"),
])
def test_bad_tables(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_table(path, labels=["0", "1"])


@pytest.mark.parametrize("line, message", [
    ("__label__3 Fine: ok", r"line 2: unknown label '__label__3'"),
    ("__label__1", r"line 2: label without review text"),
    ("__label__1   ", r"line 2: label without review text"),
    ("just text", r"line 2: unknown label 'just'"),
])
def test_bad_fasttext_lines(tmp_path, line, message):
    path = tmp_path / "a.ft.txt"
    path.write_text(f"__label__2 Good: yes\n{line}\n")
    with pytest.raises(DataError, match=r"a\.ft\.txt, " + message):
        list(iter_fasttext(path))


def test_blitzer_rating_three_is_rejected(tmp_path):
    path = tmp_path / "books" / "positive.review"
    path.parent.mkdir()
    path.write_text("<review>\n<rating>\n3.0\n</rating>\n<review_text>\nmeh\n</review_text>\n"
                    "</review>\n")
    with pytest.raises(DataError, match=r"positive\.review, line 1: rating 3"):
        load_blitzer(tmp_path)


def _imdb_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_imdb_bad_member_is_named(tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    _imdb_archive(archive, {"aclImdb/train/pos/1_8.txt": b"Nice.",
                            "aclImdb/train/neg/2_1.txt": b"bad \xff bytes"})
    with pytest.raises(DataError, match=r"aclImdb/train/neg/2_1\.txt: not UTF-8"):
        load_imdb(["train"], path=archive)
    _imdb_archive(archive, {"aclImdb/train/pos/1_8.txt": b"Nice.",
                            "aclImdb/train/neg/2_1.txt": b"<br /> "})
    with pytest.raises(DataError, match=r"aclImdb/train/neg/2_1\.txt: empty review"):
        load_imdb(["train"], path=archive)


def test_truncated_archive(tmp_path, data_dir):
    truncated = tmp_path / "aclImdb_v1.tar.gz"
    with open(data_dir / "imdb" / "aclImdb_v1.tar.gz", "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(2_000_000))
    with pytest.raises(DataError, match=r"corrupt or truncated archive at member aclImdb/"):
        load_imdb(["train"], path=truncated)


@pytest.mark.parametrize("archive, wanted, read", [
    ("imdb/aclImdb_v1.tar.gz", r"aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$",
     lambda path: load_imdb(["train", "test"], path=path)),
    ("amazon/multi_domain_sentiment_sorted_data_acl.tar.gz", r"/positive\.review$", load_blitzer),
    ("amazon/more/fdu-mtl-amazon.tar.gz", r"\.task\.train$", lambda path: list(iter_fdu_mtl(path))),
    ("amazon/more/hatn-raw-data.tar.gz", r"/review_positive$", lambda path: list(iter_hatn(path))),
])
def test_archive_truncated_inside_a_member_names_archive_and_member(archive, wanted, read,
                                                                    tmp_path, data_dir):
    with tarfile.open(data_dir / archive, "r|*") as real:
        info = next(m for m in real if m.isfile() and re.search(wanted, m.name))
        contents = real.extractfile(info).read()
    copy = tmp_path / "copy.tar"
    with tarfile.open(copy, "w") as tar:  # uncompressed: one 512-byte header, then the data
        tar.addfile(info, io.BytesIO(contents))
    with open(copy, "r+b") as stream:
        stream.truncate(512 + len(contents) // 2)
    with pytest.raises(DataError, match=rf"{copy}: corrupt or truncated archive at member "
                                        rf"{re.escape(info.name)} \(unexpected end of data\)"):
        read(copy)


def test_missing_data_names_the_expected_place(tmp_path, monkeypatch):
    monkeypatch.setattr("tl_text.data.paths.download",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataError, match=r"imdb/aclImdb_v1\.tar\.gz: not found, and "
                                        r"downloading .* failed \(offline\)"):
        load_imdb(data_dir=tmp_path)


# --- CLI ------------------------------------------------------------------------------------

def test_cli_describe(data_dir, capsys):
    assert main(["data", "describe", "dvd", "--data-dir", str(data_dir), "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "| dvd | 2,000 |" in out and "[dvd dvd/" in out


def test_cli_reports_bad_input_and_exits_nonzero(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_text('{"text": "ok", "label": 1}\n{"text": "x", "label": 1\n')
    assert main(["data", "describe", str(path)]) == 2
    assert f"{path}, line 2: invalid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("samples, message", [("-1", "must be at least 0, got -1"),
                                              ("two", "invalid count value: 'two'")])
def test_cli_describe_refuses_bad_sample_counts(samples, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["data", "describe", "imdb", "--data-dir", str(tmp_path), "--samples", samples])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument --samples: {message}" in err
    assert "Traceback" not in err


def test_extracted_folder_matches_archive(tmp_path, data_dir):
    folder = tmp_path / "books"
    folder.mkdir()
    with tarfile.open(data_dir / "amazon" / "multi_domain_sentiment_sorted_data_acl.tar.gz") as tar:
        for name in ("positive", "negative"):
            src = tar.extractfile(f"sorted_data_acl/books/{name}.review")
            with open(folder / f"{name}.review", "wb") as dst:
                shutil.copyfileobj(src, dst)
    from_folder = load_blitzer(tmp_path)["books"]
    assert len(from_folder) == 2_000 and from_folder.class_counts()["pos"] == 1_000
