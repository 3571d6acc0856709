"""CSV/TSV tables whose quoted fields span lines: text kept, line numbers where records start."""

import bz2
import collections
import csv
import gzip

import pytest

from tl_text.cli import main
from tl_text.data import iter_records, load_corpus, load_nsmc, load_table
from tl_text.errors import DataError

MULTI_LINE = b'text,label\n"nice\nfilm",1\n"two\n\nblank, ""lines""",0\nplain,1\n'


def test_quoted_newline_survives(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(MULTI_LINE)
    assert list(iter_records(path)) == [
        (2, {"text": "nice\nfilm", "label": "1"}),
        (4, {"text": 'two\n\nblank, "lines"', "label": "0"}),
        (7, {"text": "plain", "label": "1"})]
    dataset = load_table(path)
    assert dataset.texts == ["nice\nfilm", 'two\n\nblank, "lines"', "plain"]
    assert dataset.ids == ["2", "4", "7"]


def test_load_table_strips_only_the_ends(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('text,label\n"  \nfirst line\nsecond line\n\n",1\n')
    assert load_table(path).texts == ["first line\nsecond line"]


def test_crlf_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(MULTI_LINE.replace(b"\n", b"\r\n"))
    assert [record for _, record in iter_records(path)] == [
        {"text": "nice\nfilm", "label": "1"}, {"text": 'two\n\nblank, "lines"', "label": "0"},
        {"text": "plain", "label": "1"}]


@pytest.mark.parametrize("opener, suffix", [(gzip.open, ".gz"), (bz2.open, ".bz2")],
                         ids=["gzip", "bz2"])
def test_compressed_multi_line_csv(tmp_path, opener, suffix):
    path = tmp_path / f"r.csv{suffix}"
    with opener(path, "wb") as stream:
        stream.write(MULTI_LINE)
    assert load_table(path).texts[:2] == ["nice\nfilm", 'two\n\nblank, "lines"']


@pytest.mark.parametrize("content, message", [
    (MULTI_LINE + b"lonely\n", r"r\.csv, line 8: expected 2 fields \(text, label\), got 1$"),
    (MULTI_LINE + b'"never closed,1\nmore,0\n',
     r"r\.csv, line 8: expected 2 fields .* in lines 8-9 \(an unbalanced quote\?\)"),
    (MULTI_LINE + b"caf\xe9,1\n", r"r\.csv, line 8: not UTF-8"),
    (b'text,label\n"a\nb",1\n"c\nd"\n', r"r\.csv, line 4: expected 2 fields .* lines 4-5"),
    (MULTI_LINE + b"ok,1\n,1\n", r"r\.csv, line 9, field 'text': empty document"),
], ids=["fields", "unbalanced-quote", "utf-8", "multi-line-fields", "empty"])
def test_error_lines_after_multi_line_records(tmp_path, content, message):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_table(path, labels=["0", "1"])


def test_malformed_csv_names_the_record_start(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(MULTI_LINE + b'"' + b"long line\n" * 5 + b'",1\n')
    limit = csv.field_size_limit(20)
    try:
        with pytest.raises(DataError, match=r"r\.csv, line 8: malformed CSV \(field larger "
                                            r"than field limit \(20\)\) in lines 8-10"):
            load_table(path)
    finally:
        csv.field_size_limit(limit)


def test_tsv_keeps_quotes_and_one_record_a_line(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text('text\tlabel\n"open quote\t1\nnext" line\t0\n')
    assert list(iter_records(path)) == [(2, {"text": '"open quote', "label": "1"}),
                                        (3, {"text": 'next" line', "label": "0"})]


@pytest.mark.data
def test_earphone_reviews(data_dir):
    path = data_dir / "amazon" / "more" / "earphones" / "AllProductReviews.csv.gz"
    records = list(iter_records(path))
    with gzip.open(path, "rt", encoding="utf-8", newline="") as stream:
        assert [record for _, record in records] == list(csv.DictReader(stream))
    stars = collections.Counter(record["ReviewStar"] for _, record in records)
    assert len(records) == 14_337
    assert stars == {"1": 2_493, "2": 939, "3": 1_503, "4": 3_189, "5": 6_213}
    assert [line for line, _ in records[:3]] == [2, 5, 8]  # three lines a record
    assert sum("\n" in record["ReviewBody"] for _, record in records) > 14_000
    # two reviews are empty (a lone newline): an error at the line where the record starts
    with pytest.raises(DataError, match=r"line 17227, field 'ReviewBody': empty document"):
        load_table(path, text_column="ReviewBody", label_column="ReviewStar")
    dataset = load_table(path, text_column="ReviewBody", label_column="ReviewStar",
                         skip_empty=True)
    assert dataset.class_counts() == {"1": 2_493, "2": 939, "3": 1_503, "4": 3_189, "5": 6_211}
    assert dataset.texts[0].startswith("No doubt it has a great bass")
    assert dataset.texts[0].endswith("complaining about my voice.")


def test_polarity_csv_keeps_quoted_newlines_and_record_start_lines(tmp_path):
    from tl_text.data import iter_polarity_csv

    good = tmp_path / "train.csv"
    good.write_text('"2","Great","works\nevery day"\n"1","Bad","broke\\nfast"\n')
    assert [(e.id, e.text, e.label) for e in iter_polarity_csv(good)] == [
        ("train.csv:1", "Great: works\nevery day", 1), ("train.csv:3", "Bad: broke fast", 0)]
    bad = tmp_path / "test.csv"
    bad.write_text(good.read_text() + '"3","x","y"\n')
    with pytest.raises(DataError, match=r"test.csv, line 4, field 'class'"):
        list(iter_polarity_csv(bad))


NSMC_ROWS = "id\tdocument\tlabel\n9976970\t아 더빙.. 진짜 짜증나네요\t0\n3819312\t재밌다\t1\n"


@pytest.mark.parametrize("name", ["ratings_train.txt", "ratings_test.txt.gz", "mine.tsv"])
def test_an_nsmc_file_given_by_path_is_read_as_nsmc(name, tmp_path, capsys):
    path = tmp_path / "nsmc" / name
    path.parent.mkdir()
    data = NSMC_ROWS.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    dataset = load_corpus(str(path))["all"]
    assert dataset.ids == ["9976970", "3819312"] and list(dataset.label_names) == ["neg", "pos"]
    assert main(["data", "describe", str(path), "--samples", "0"]) == 0
    assert "| all | 2 | 1 (50.0%) | 1 (50.0%) |" in capsys.readouterr().out


def test_the_real_nsmc_file_by_path(data_dir):
    dataset = load_corpus(str(data_dir / "nsmc" / "ratings_test.txt"), skip_empty=True)["all"]
    assert len(dataset) == len(load_nsmc(["test"], data_dir=data_dir, skip_empty=True)["test"])


@pytest.mark.parametrize("load", [
    lambda path: load_table(path, "document", "label", id_column="id"),
    lambda path: load_corpus(str(path))])
def test_a_repeated_id_is_an_error_naming_both_lines(load, tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_text(NSMC_ROWS + "3819312\t또 봐도 재밌다\t1\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{path}, line 4, field 'id': duplicate id "
                                        r"'3819312' \(first on line 3\)$"):
        load(path)
