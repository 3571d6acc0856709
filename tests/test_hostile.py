"""Hostile input, as a careless or malicious user would give it: broken data files, impossible
command-line options, damaged or half-written exports (issue #16; REST cases are in
test_serve.py). Every case checks what the user gets: the exit status, one line naming the
file and line, field or option at fault, and that nothing was written and nothing lost."""

import csv
import gzip
import io
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_explain import nb_lr_export  # noqa: F401  (fixture: NB-LR on the books reviews)
from tl_text.cli import main
from tl_text.data import iter_fasttext, load_corpus, load_table
from tl_text.errors import DataError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reviews(data_dir) -> list[tuple[str, str]]:
    """The first 40 real Amazon reviews of the fastText test head, as (text, neg|pos)."""
    path = data_dir / "amazon" / "amazon_polarity_test_head6459.ft.txt"
    return [(e.text, ("neg", "pos")[e.label]) for e in itertools.islice(iter_fasttext(path), 40)]


def table(rows, header=("text", "label")) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue()


def run(argv, capsys) -> tuple[int, str, str]:
    """`tl-text ARGV` in this process: (exit status, stdout, the last line of stderr)."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exited:  # argparse refusing an option
        code = exited.code
    printed = capsys.readouterr()
    return code, printed.out, (printed.err.strip().splitlines() or [""])[-1]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime)} of everything under `folder`, hidden files included."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


# --- data files ----------------------------------------------------------------------------

DATA_FILES = {  # name: (file name, contents from the real reviews, options, message)
    "missing text column": (
        "r.csv", lambda r: table(r[:5], ("review", "label")), [],
        ", line 2: no column 'text' (columns: review, label)"),
    "empty file": ("r.csv", lambda r: "", [], ": empty file (no header row)"),
    "header only": ("r.csv", lambda r: "text,label\n", [], ": no documents"),
    "binary garbage": (
        "r.csv", lambda r: bytes(range(256)) * 4, [],
        ", line 2: not UTF-8 (invalid start byte at byte 117)"),
    "bad UTF-8 on one line": (
        "r.csv", lambda r: table(r[:3]).encode() + b"caf\xe9 au lait,pos\n", [],
        ", line 5: not UTF-8 (invalid continuation byte at byte 3)"),
    "unknown label": (
        "r.csv", lambda r: table(r[:10] + [("so-so", "meh")]), ["--labels", "neg,pos"],
        ", line 12, field 'label': unknown label 'meh' (expected one of ['neg', 'pos'])"),
    "missing label": (
        "r.csv", lambda r: table(r[:3] + [("Fine text.", "")]), [],
        ", line 5, field 'label': missing label"),
    "empty document": (
        "r.csv", lambda r: table(r[:3] + [("   ", "pos")]), [],
        ", line 5, field 'text': empty document"),
    "too many TSV fields": (
        "r.tsv", lambda r: "text\tlabel\nfine\tpos\ntoo\tmany\tfields\n", [],
        ", line 3: expected 2 fields (text, label), got 3"),
    "unbalanced quote": (
        "r.csv", lambda r: 'text,label\n"never closed,pos\n' + table(r[:3]).split("\n", 1)[1],
        [], ", line 2: expected 2 fields (text, label), got 8 in lines 2-3 (an unbalanced "
            "quote?)"),
    "huge field": (
        "r.csv", lambda r: f'text,label\n"{"long " * 40_000}",pos\n', [],
        ", line 2: malformed CSV (field larger than field limit (131072))"),
    "JSON line not an object": (
        "r.jsonl", lambda r: '{"text": "ok", "label": "pos"}\n[1, 2]\n', [],
        ", line 2: expected a JSON object per line"),
    "JSON line cut short": (
        "r.jsonl", lambda r: '{"text": "ok", "label": "pos"}\n{"text": "cut', [],
        ", line 2: invalid JSON (Unterminated string starting at)"),
    "JSON record without label": (
        "r.jsonl", lambda r: '{"text": "ok", "label": "pos"}\n{"text": "no label"}\n', [],
        ", line 2: no column 'label' (columns: text)"),
    "JSON text not a string": (
        "r.jsonl", lambda r: '{"text": "ok", "label": "pos"}\n{"text": 5, "label": "neg"}\n',
        [], ", line 2, field 'text': text is int, not a string"),
    "no format suffix": (
        "reviews", lambda r: table(r[:5]), [],
        ": cannot tell the format from 'no suffix'; name one of ('csv', 'tsv', 'jsonl')"),
    "truncated gzip": (
        "r.csv.gz", lambda r: gzip.compress(table(r).encode())[:300], [],
        ": corrupt or truncated file after line 1 (Compressed file ended before the "
        "end-of-stream marker was reached)"),
    "unknown fastText label": (
        "r.ft.txt", lambda r: f"__label__2 {r[0][0]}\n__label__7 {r[1][0]}\n", [],
        ", line 2: unknown label '__label__7' (expected __label__1 or __label__2)"),
}


@pytest.mark.parametrize("case", DATA_FILES)
def test_bad_data_file_is_named_with_its_line(case, reviews, tmp_path, capsys):
    name, contents, options, message = DATA_FILES[case]
    path = tmp_path / name
    data = contents(reviews)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    code, out, err = run(["data", "describe", path, *options], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"tl-text: error: {path}{message}"), err
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_byte_order_mark_before_the_header_is_ignored(reviews, tmp_path, capsys):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + table(reviews[:10]).encode())
    assert run(["data", "describe", path, "--samples", "0"], capsys)[0] == 0
    assert load_table(path).texts[0] == reviews[0][0]


def test_quoted_newlines_and_crlf_survive(reviews, tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(table([("nice\nfilm", "pos"), *reviews[:3]]).replace("\n", "\r\n")
                     .replace("nice\r\nfilm", "nice\nfilm").encode())
    (loaded,) = load_corpus(str(path)).values()
    assert loaded.texts[0] == "nice\nfilm" and loaded.ids == ["2", "4", "5", "6"]


def test_duplicate_ids_name_both_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "text": "x", "label": 1}\n{"id": "b", "text": "y", "label": 0}\n'
                    '{"id": "a", "text": "z", "label": 0}\n')
    with pytest.raises(DataError, match=r"r\.jsonl, line 3, field 'id': duplicate id 'a' "
                                        r"\(first on line 1\)"):
        load_table(path, id_column="id")


# --- command-line options -------------------------------------------------------------------

@pytest.fixture()
def good_csv(reviews, tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text(table(reviews), encoding="utf-8")
    return path


@pytest.fixture()
def offline(monkeypatch):
    """Downloads fail: a test that reached one would name it."""
    def refuse(url, *args, **kwargs):
        raise OSError(f"offline test: no download of {url}")
    monkeypatch.setattr("tl_text.data.paths.download", refuse)


@pytest.mark.parametrize("value, message", [
    ("0", "fraction must be in (0, 1]: 0"), ("1.5", "fraction must be in (0, 1]: 1.5"),
    ("abc", "invalid fraction value: 'abc'"), ("nan", "fraction must be in (0, 1]: nan")])
def test_bad_fraction_is_refused_by_the_parser(value, message, good_csv, tmp_path, capsys):
    code, _, err = run(["train", good_csv, "--out", tmp_path / "m", "--fraction", value], capsys)
    assert code == 2 and err == f"tl-text train: error: argument --fraction: {message}"
    assert not (tmp_path / "m").exists()


def test_fraction_of_no_documents_trains_nothing(good_csv, tmp_path, capsys):
    code, _, err = run(["train", good_csv, "--out", tmp_path / "m", "--fraction", "0.001"],
                       capsys)
    assert (code, err) == (2, "tl-text: error: reviews/train[0.001]: no training documents")
    assert not (tmp_path / "m").exists()


def test_lr_find_on_a_fraction_of_no_documents_is_refused(good_csv, tmp_path, capsys):
    code, _, err = run(["lr-find", good_csv, "--fraction", "0.001", "--out",
                        tmp_path / "lr.png"], capsys)
    assert code == 2 and err == ("tl-text: error: lr-find needs documents of at least two "
                                 "classes; reviews[0.001] has {'neg': 0, 'pos': 0}")
    assert not (tmp_path / "lr.png").exists()


def test_one_class_only_is_refused(reviews, tmp_path, capsys):
    path = tmp_path / "pos.csv"
    path.write_text(table([r for r in reviews if r[1] == "pos"]), encoding="utf-8")
    code, _, err = run(["train", path, "--out", tmp_path / "m"], capsys)
    assert (code, err) == (2, "tl-text: error: pos/train: training needs at least two classes, "
                              "found only ['pos']")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv, message", [
    (["transfer", "--seeds", "0"], "--seeds must be at least 1, got 0"),
    (["transfer", "--seeds", "-1"], "--seeds must be at least 1, got -1"),
    (["crossdomain", "--seeds", "0"], "--seeds must be at least 1"),
    (["transfer", "--arms", "nb-lr,bogus"], "unknown or repeated arm in 'bogus'; choose from "),
    (["crossdomain", "--domains", "books,narnia"], "unknown domain(s) narnia; choose from "),
    (["nsmc", "--arms", "nb-lr:zzz"], "unknown arm 'nb-lr:zzz': expected MODEL:UNIT"),
])
def test_impossible_experiment_options_are_refused_before_reading_data(
        argv, message, tmp_path, offline, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    code, _, err = run([*argv, "--data-dir", empty, "--out", tmp_path / "out"], capsys)
    assert code == 2 and err.startswith(f"tl-text: error: {message}"), err
    assert list(empty.iterdir()) == [] and not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused_and_kept(good_csv, tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    for argv in (["train", good_csv, "--out", taken / "m"],
                 ["transfer", "--arms", "nb-lr", "--out", taken]):
        code, _, err = run(argv, capsys)
        assert (code, err) == (2, f"tl-text: error: --out {argv[-1]}: {taken} is a file, not "
                                  f"a folder; choose another --out")
    assert taken.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_out_in_a_read_only_folder_is_refused(good_csv, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, _, err = run(["train", good_csv, "--out", locked / "m"], capsys)
    assert code == 2 and "cannot write in the folder" in err and list(locked.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["train", "{tmp}/missing.csv", "--out", "{tmp}/m"],
     "{tmp}/missing.csv: no such file, and not a corpus name (imdb, nsmc, amazon, "),
    (["train", "{csv}", "--out", "{tmp}/m", "--text-column", "body"],
     "{csv}, line 2: no column 'body' (columns: text, label)"),
    (["train", "{csv}", "--out", "{tmp}/m", "--model", "nb-lr+gpt"],
     "unknown or repeated arm in 'nb-lr+gpt'; choose from "),
    (["train", "{csv}", "--out", "{tmp}/m", "--test-split", "1"],
     "--test-split must be in (0, 1), got 1"),
    (["data", "describe", "nosuchcorpus"],
     "nosuchcorpus: no such file, and not a corpus name (imdb, "),
    (["predict", "--model", "{tmp}/missing", "Great."],
     "{tmp}/missing does not exist (expected an export base path or a version folder "),
    (["evaluate", "{tmp}/missing", "{csv}", "--out", "{tmp}/m"],
     "{tmp}/missing does not exist (expected an export base path or a version folder "),
    (["predict", "--model", "{csv}", "Great."],
     "{csv} is a file (expected an export base path or a version folder holding "),
    (["predict", "--model", "{tmp}", "--file", "{tmp}/missing.txt"],
     "no exported model in {tmp}: expected {tmp}/<version>/saved_model.pb"),
    (["explain", "{tmp}/missing", "Great.", "--html", "{tmp}"],
     "--html {tmp} is a folder; give a file name"),
])
def test_bad_paths_are_named(argv, message, good_csv, tmp_path, capsys):
    def fill(text):
        return text.format(tmp=tmp_path, csv=good_csv)
    before = snapshot(tmp_path)
    code, out, err = run([fill(arg) for arg in argv], capsys)
    assert (code, out) == (2, "") and err.startswith(f"tl-text: error: {fill(message)}"), err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, message", [
    (["predict", "--model", "m", "--batch-size", "0", "x"],
     "tl-text predict: error: argument --batch-size: must be at least 1, got 0"),
    (["explain", "m", "x", "--top", "0"],
     "tl-text explain: error: argument --top: must be at least 1, got 0"),
    (["explain", "m", "x", "--window", "-2"],
     "tl-text explain: error: argument --window: must be at least 1, got -2"),
    (["data", "describe", "imdb", "--samples", "-1"],
     "tl-text data describe: error: argument --samples: must be at least 0, got -1"),
    (["transfer", "--fraction", "0.05,0"],
     "tl-text transfer: error: argument --fraction: fractions must be in (0, 1]: 0.05,0"),
    (["transfer", "--seeds", "three"],
     "tl-text transfer: error: argument --seeds: invalid int value: 'three'"),
    (["lr-find", "--truncation", "middle"],
     "tl-text lr-find: error: argument --truncation: invalid choice: 'middle' (choose from "
     "'head', 'tail', 'head+tail')"),
])
def test_out_of_range_options_are_refused_by_the_parser(argv, message, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert (code, out, err) == (2, "", message)
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_data_dir_creates_nothing(tmp_path, offline, capsys):
    typo = tmp_path / "dta"
    code, _, err = run(["data", "describe", "imdb", "--data-dir", typo], capsys)
    assert code == 2 and err.startswith(f"tl-text: error: {typo}/imdb/aclImdb_v1.tar.gz: not "
                                        f"found, and downloading ")
    assert not typo.exists()


# --- exports ----------------------------------------------------------------------------------

def damaged(export: Path, tmp_path: Path, damage) -> Path:
    """A copy of `export` (a base path) with `damage(version folder)` done to it."""
    base = tmp_path / "damaged"
    shutil.copytree(export, base)
    damage(base / "1")
    return base


def truncate(relative: str, keep: float = 0.5):
    def cut(folder: Path):
        path = folder / relative
        with open(path, "r+b") as stream:
            stream.truncate(int(path.stat().st_size * keep))
    return cut


EXPORTS = {  # damage: (what to do to version 1, message after "{version folder}")
    "variables cut in half": (
        truncate("variables/variables.data-00000-of-00001"),
        "cannot load the SavedModel in {v}: a file is missing, truncated or corrupt "
        "(IndexError: Read less bytes than requested)"),
    "variables emptied": (
        truncate("variables/variables.data-00000-of-00001", 0),
        "cannot load the SavedModel in {v}: a file is missing, truncated or corrupt "
        "(IndexError: Read less bytes than requested)"),
    "variables index cut": (
        truncate("variables/variables.index"),
        "cannot load the SavedModel in {v}: a file is missing, truncated or corrupt "
        "(OpError: not an sstable (bad magic number))"),
    "variables folder gone": (
        lambda v: shutil.rmtree(v / "variables"),
        "cannot load the SavedModel in {v}: a file is missing, truncated or corrupt "
        "(FileNotFoundError: Unsuccessful TensorSliceReader constructor: Failed to find any "
        "matching files for {v}/variables/variables)"),
    "saved_model.pb cut": (
        truncate("saved_model.pb"),
        "cannot load the SavedModel in {v}: a file is missing, truncated or corrupt "
        "(OSError: Cannot parse file b'{v}/saved_model.pb': Error parsing message with type "
        "'tensorflow.SavedModel': Wire format was corrupt.)"),
    "metadata.json gone": (
        lambda v: (v / "metadata.json").unlink(),
        "{v} has no metadata.json: not written by tl_text's export_model"),
    "metadata.json not JSON": (
        lambda v: (v / "metadata.json").write_text("{labels: [neg, pos]"),
        "{v}/metadata.json is not valid JSON: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)"),
    "metadata.json without labels": (
        lambda v: (v / "metadata.json").write_text("[]"),
        "{v}/metadata.json has no \"labels\" list: not written by tl_text's export_model"),
}


@pytest.mark.parametrize("case", EXPORTS)
def test_damaged_export_is_a_clear_error(case, nb_lr_export, tmp_path, capsys):  # noqa: F811
    damage, message = EXPORTS[case]
    base = damaged(nb_lr_export, tmp_path, damage)
    before = snapshot(base)
    for argv in (["predict", "--model", base, "Great."], ["explain", base, "Great."]):
        code, out, err = run(argv, capsys)
        assert (code, out) == (2, "")
        assert err == f"tl-text: error: {message.format(v=base / '1')}"
    assert snapshot(base) == before


@pytest.mark.parametrize("layout", [{}, {"v1": "saved_model.pb"}, {"latest": "metadata.json"},
                                    {"1.5": "saved_model.pb"}, {"notes.txt": None}])
def test_folder_without_versions_is_no_model(layout, tmp_path, capsys):
    base = tmp_path / "model"
    base.mkdir()
    for name, inner in layout.items():
        if inner is None:
            (base / name).write_text("not a model")
        else:
            (base / name).mkdir()
            (base / name / inner).write_bytes(b"\x08\x01")
    code, _, err = run(["predict", "--model", base, "Great."], capsys)
    assert (code, err) == (2, f"tl-text: error: no exported model in {base}: expected "
                              f"{base}/<version>/saved_model.pb")


def test_the_highest_version_is_loaded_even_when_broken(nb_lr_export, tmp_path, capsys):  # noqa: F811
    base = damaged(nb_lr_export, tmp_path, lambda v: None)
    (base / "7").mkdir()  # an empty (e.g. hand-made) newer version: named, never skipped
    code, _, err = run(["predict", "--model", base, "Great."], capsys)
    assert (code, err) == (2, f"tl-text: error: {base}/7 has no metadata.json: not written "
                              f"by tl_text's export_model")
    assert run(["predict", "--model", base / "1", "Great."], capsys)[0] == 0


WRITER = """
import sys, time
from pathlib import Path
from tl_text.atomic import atomic_folder, atomic_path
target = Path(sys.argv[2])
with (atomic_folder if sys.argv[1] == "folder" else atomic_path)(target) as temp:
    (temp / "saved_model.pb" if temp.is_dir() else temp).write_bytes(b"half written")
    print(temp, flush=True)
    time.sleep(120)
"""


def start_writer(kind: str, target: Path) -> tuple[subprocess.Popen, Path]:
    """A process in the middle of writing `target` atomically, and its temp path."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, kind, str(target)],
                               stdout=subprocess.PIPE, text=True, env=env)
    return process, Path(process.stdout.readline().strip())


def test_a_killed_exports_temp_folder_is_removed_by_the_next_export(nb_lr_export, tmp_path):  # noqa: F811
    from tl_text.classifiers import load_classifier

    base = tmp_path / "model"
    killed, left = start_writer("folder", base / "1")
    running, kept = start_writer("folder", base / "1")
    try:
        killed.kill()
        killed.wait()
        assert left.is_dir() and kept.is_dir() and left.name.startswith(".1.pid")
        load_classifier(nb_lr_export).export(base)
        assert not left.exists() and kept.is_dir()  # the running writer keeps its folder
        assert sorted(p.name for p in base.iterdir()) == sorted(["1", kept.name])
    finally:
        running.kill()
        running.wait()


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    from tl_text.atomic import atomic_write

    killed, left = start_writer("file", tmp_path / "results.json")
    killed.kill()
    killed.wait()
    assert left.is_file() and left.parent == tmp_path
    atomic_write(tmp_path / "results.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_scratch_folders_stay_out_of_the_system_temp_folder(tmp_path, monkeypatch):
    from tl_text.atomic import scratch_folder

    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(system_temp))
    with scratch_folder(tmp_path / "new" / "model", "vocabulary") as scratch:
        assert scratch.parent == tmp_path / "new" / "model"
        assert scratch.name.startswith(f".vocabulary.pid{os.getpid()}-")
    # a refused export: its scratch, and the folders made for it, are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["system-temp"]
    assert list(system_temp.iterdir()) == []
