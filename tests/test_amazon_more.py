"""The `amazon/more/` readers (FDU-MTL, HATN, McAuley, earphones) and deduplication."""

import gzip
import io
import json
import tarfile

import pytest

from tl_text.data import describe, load_corpus
from tl_text.data.amazon import load_amazon, load_amazon_unlabelled
from tl_text.data.amazon_more import (iter_earphones, iter_fdu_mtl, iter_hatn, iter_mcauley,
                                      star_polarity)
from tl_text.data.dedup import deduplicate, text_key
from tl_text.data.dataset import TextDataset
from tl_text.errors import DataError

BOOK = ("A gem of a book: Clarence Larkin's \"The Book of Revelation\" is the best study "
        "guide I own, chart after chart.")
FDU_BOOK = ("clarence larkin 's `` the book of revelation '' is the best study guide i own , "
            "chart after chart .")


def _tar(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def amazon_folder(tmp_path):
    """An amazon/ folder with a fastText file and one file of each `more/` collection."""
    folder = tmp_path / "amazon"
    more = folder / "more"
    (more / "mcauley").mkdir(parents=True)
    (more / "earphones").mkdir()
    (folder / "reviews.ft.txt").write_text(
        "__label__2 Loved it: works every single morning without fail.\n"
        "__label__1 Broke: the handle snapped on the second day of use, and support never ever "
        "answered my mail.\n")
    _tar(more / "fdu-mtl-amazon.tar.gz", {
        "mtl-dataset/books.task.train": f"1\t{FDU_BOOK}\n0\ta dull , lifeless read .\n".encode(),
        "mtl-dataset/books.task.test": b"0\tthe handle snapped on the second day of use , and "
                                       b"support never ever answered my mail .\n",
        "mtl-dataset/books.task.unlabel": b"An unlabelled review about a lamp.\n"
                                          b"0\ta dull , lifeless read .\n"})
    _tar(more / "hatn-raw-data.tar.gz", {
        "raw_data/books/review_positive": f"{BOOK.replace(': ', '. ', 1)}\n".replace(
            '"', "&quot;").encode(),
        "raw_data/books/review_negative": b"Meh. Not worth the paper it is printed on.\n"})
    records = [{"overall": 5.0, "summary": "Five Stars", "reviewText": "Great dryer vent."},
               {"overall": 3.0, "summary": "OK", "reviewText": "Middling."},
               {"overall": 1.0, "summary": "No text"},
               {"overall": 2.0, "summary": "Flimsy", "reviewText": "Cracked in a week."}]
    with gzip.open(more / "mcauley" / "Appliances_5.json.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    with gzip.open(more / "earphones" / "AllProductReviews.csv.gz", "wt") as f:
        f.write('ReviewTitle,ReviewBody,ReviewStar,Product\n"Good bass\n","Deep bass,\nclear '
                'mids.\n",5,boAt\nAwful,"Stopped charging.",1,boAt\nFine,Okay,3,boAt\n')
    return folder


def test_each_collection_reads_its_format(amazon_folder):
    more = amazon_folder / "more"
    fdu = list(iter_fdu_mtl(more / "fdu-mtl-amazon.tar.gz"))
    assert [(e.id, e.label) for e in fdu] == [  # archive order
        ("fdu-mtl/books/train/1", 1), ("fdu-mtl/books/train/2", 0), ("fdu-mtl/books/test/1", 0)]
    unlabelled = list(iter_fdu_mtl(more / "fdu-mtl-amazon.tar.gz", unlabelled=True))
    assert [e.text for e in unlabelled] == ["An unlabelled review about a lamp.",
                                           "a dull , lifeless read ."]
    assert {e.label for e in unlabelled} == {-1}
    hatn = list(iter_hatn(more / "hatn-raw-data.tar.gz"))
    assert hatn[0].text.startswith('A gem of a book. Clarence Larkin\'s "The Book')  # unescaped
    assert [e.label for e in hatn] == [1, 0]
    mcauley = list(iter_mcauley(more / "mcauley" / "Appliances_5.json.gz"))
    assert [(e.text, e.label) for e in mcauley] == [("Five Stars: Great dryer vent.", 1),
                                                    ("Flimsy: Cracked in a week.", 0)]
    ear = list(iter_earphones(more / "earphones" / "AllProductReviews.csv.gz"))
    assert [(e.id, e.text, e.label) for e in ear] == [
        ("earphones/2", "Good bass: Deep bass,\nclear mids.", 1),
        ("earphones/6", "Awful: Stopped charging.", 0)]  # the first record spans lines 2-5


def test_stars_map_to_polarity():
    assert [star_polarity(s) for s in (1, 2, 3, 4, 5)] == [0, 0, None, 1, 1]
    with pytest.raises(ValueError, match="1-5"):
        star_polarity(0)


def test_one_review_in_many_shapes_has_one_key():
    shapes = [BOOK, BOOK.replace(": ", ". ", 1).replace('"', "&quot;"), FDU_BOOK,
              FDU_BOOK.upper()]
    assert len({text_key(t) for t in shapes}) == 1
    assert text_key("영화 정말 재밌어요!!") == "영화정말재밌어요"  # any script
    assert text_key("?!") == "?!"


def test_load_amazon_keeps_every_review_once_and_none_from_the_evaluation(amazon_folder):
    amazon = load_amazon(folder=amazon_folder, exclude=["A dull, lifeless read."])
    removed = amazon.info["duplicates removed"]
    # the HATN copy of the book review repeats FDU-MTL's; the FDU test review repeats the
    # fastText one; "a dull , lifeless read" is evaluation text
    assert removed == {"amazon/reviews.ft.txt": 0, "amazon/earphones/AllProductReviews.csv.gz": 0,
                       "amazon/fdu-mtl-amazon.tar.gz": 2, "amazon/hatn-raw-data.tar.gz": 1,
                       "amazon/mcauley/Appliances_5.json.gz": 0}
    assert len(amazon) == 2 + 2 + 1 + 1 + 2
    assert amazon.class_counts() == {"neg": 4, "pos": 4}
    assert amazon.extra["source"][0] == "amazon/reviews.ft.txt"
    assert len(load_amazon(folder=amazon_folder, more=False)) == 2
    unlabelled = load_amazon_unlabelled(folder=amazon_folder)
    assert unlabelled.texts == ["An unlabelled review about a lamp."]  # the other is labelled
    text = describe({"train": amazon}, samples=0)
    assert "train by source (3 duplicates removed)" in text
    assert "amazon/hatn-raw-data.tar.gz: 1 kept, 1 removed" in text


def test_deduplicate_keeps_the_first_copy_and_reports_per_part():
    a = TextDataset("a", ["1", "2"], ["Same text.", "Other"], [0, 1], ("neg", "pos"))
    b = TextDataset("b", ["3", "4"], ["same TEXT", "New one"], [1, 0], ("neg", "pos"))
    joined, removed = deduplicate("ab", [a, b])
    assert joined.ids == ["1", "2", "4"] and removed == {"a": 0, "b": 1}
    assert joined.extra["source"] == ["a", "a", "b"]


def test_bad_records_name_file_member_and_line(tmp_path):
    archive = _tar(tmp_path / "fdu-mtl.tar.gz", {"mtl-dataset/toys.task.train": b"1\tfine\n7\tx\n"})
    with pytest.raises(DataError, match=r"toys.task.train, line 2: expected LABEL<TAB>text"):
        list(iter_fdu_mtl(archive))
    bad = tmp_path / "Beauty_5.json"
    bad.write_text('{"overall": 5, "reviewText": "ok"}\n{"overall": "six", "reviewText": "x"}\n')
    with pytest.raises(DataError, match=r"Beauty_5.json, line 2, field 'overall'"):
        list(iter_mcauley(bad))
    broken = tmp_path / "more.tar.gz"
    broken.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        list(iter_hatn(broken))


def test_real_amazon_source_counts(data_dir):
    splits = load_corpus("amazon", data_dir=data_dir, unlabelled=True)
    amazon, unsup = splits["train"], splits["unsup"]
    assert len(amazon) == 76_768 and len(set(amazon.ids)) == len(amazon)
    assert amazon.class_counts() == {"neg": 32_234, "pos": 44_534}
    removed = amazon.info["duplicates removed"]
    assert removed["amazon/hatn-raw-data.tar.gz"] == 6_901  # HATN repeats FDU-MTL and Blitzer
    assert sum(removed.values()) == 18_138
    assert len(unsup) == 18_304 and not set(map(text_key, unsup.texts)) & set(
        map(text_key, amazon.texts))


def test_an_empty_amazon_folder_is_filled_by_the_downloads(tmp_path, monkeypatch):
    fetched = []

    def fake_fetch(folder):  # stands in for the network (tests/test_download.py tests it)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "amazon_polarity.ft.txt").write_text("__label__2 Fine: it works.\n")
        fetched.append(folder)

    monkeypatch.setattr("tl_text.data.amazon.fetch_amazon", fake_fetch)
    amazon = load_amazon(folder=tmp_path / "amazon")
    assert fetched == [tmp_path / "amazon"] and amazon.texts == ["Fine: it works."]
    load_amazon(folder=tmp_path / "amazon")
    assert len(fetched) == 1  # files present: nothing fetched again
