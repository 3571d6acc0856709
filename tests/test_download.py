"""Downloads, offline: a small file served on 127.0.0.1 (checksums, truncation, resume), the
amazon_polarity parquet reader, and `fetch_amazon` with the network stood in for."""

import hashlib
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tl_text.data import amazon_sources, load_corpus
from tl_text.data.amazon_sources import fetch_amazon, iter_polarity_parquet
from tl_text.data.paths import download, locate
from tl_text.errors import DataError

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


class Handler(BaseHTTPRequestHandler):
    """Serves `server.payload`; `server.mode`: "range" honours Range, "full" ignores it,
    "truncate" announces the whole payload and sends half. Records each Range header."""

    def do_GET(self):
        body, wanted = self.server.payload, self.headers.get("Range")
        self.server.ranges.append(wanted)
        if wanted and self.server.mode == "range":
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if self.server.mode == "truncate" else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.payload, httpd.mode, httpd.ranges = PAYLOAD, "range", []
    httpd.url = f"http://127.0.0.1:{httpd.server_port}/file.bin"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_download_verifies_and_renames(server, tmp_path, algorithm):
    dest = tmp_path / "sub" / "file.bin"
    assert download(server.url, dest, hashlib.new(algorithm, PAYLOAD).hexdigest()) == dest
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]


def test_checksum_mismatch_removes_the_download(server, tmp_path):
    dest = tmp_path / "file.bin"
    with pytest.raises(DataError, match=rf"{server.url}: checksum mismatch: md5 \w+, "
                                        r"expected 0{32}"):
        download(server.url, dest, "0" * 32)
    assert not dest.exists() and not part_of(dest).exists()


def test_truncated_transfer_keeps_the_partial_file(server, tmp_path):
    server.mode = "truncate"
    dest = tmp_path / "file.bin"
    with pytest.raises(DataError, match=rf"{server.url}: truncated transfer: got 5,120 of "
                                        r"10,240 bytes"):
        download(server.url, dest)
    assert not dest.exists()
    assert part_of(dest).read_bytes() == PAYLOAD[:5120]


def test_resume_requests_only_the_rest(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(PAYLOAD[:3000])
    download(server.url, dest, hashlib.sha256(PAYLOAD).hexdigest())
    assert server.ranges == ["bytes=3000-"]
    assert dest.read_bytes() == PAYLOAD and not part_of(dest).exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    server.mode = "full"
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(b"stale bytes of another file")
    download(server.url, dest, hashlib.md5(PAYLOAD).hexdigest())
    assert server.ranges == ["bytes=27-"]
    assert dest.read_bytes() == PAYLOAD


def test_complete_partial_file_is_fetched_again(server, tmp_path):
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(PAYLOAD)  # 416 Range Not Satisfiable: start over
    download(server.url, dest)
    assert server.ranges == ["bytes=10240-", None]
    assert dest.read_bytes() == PAYLOAD


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_url_names_it_and_the_expected_place(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/corpus.txt"
    with pytest.raises(DataError, match=rf"corpus/file\.txt: not found, and downloading {url} "
                                        r"failed .*copy the file there or point"):
        locate("corpus/file.txt", tmp_path, url)


@pytest.mark.parametrize("corpus", ["imdb", "nsmc"])
def test_a_mistyped_data_dir_offline_leaves_no_folders(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(f"tl_text.data.{corpus}.URL", f"http://127.0.0.1:{closed_port()}/x")
    typo = tmp_path / "typo"
    with pytest.raises(DataError, match=rf"typo/{corpus}/.*: not found, and downloading"):
        load_corpus(corpus, data_dir=typo)
    assert not typo.exists()


# --- amazon_polarity parquet -----------------------------------------------------------------

def write_polarity(path: Path, rows: list[tuple], row_group_size: int = 2) -> Path:
    label, title, content = zip(*rows)
    table = pa.table({"label": pa.array(label, pa.int64()), "title": title, "content": content})
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_iter_polarity_parquet(tmp_path):
    path = write_polarity(tmp_path / "shard.parquet", [
        (1, "Great", "Works well.\\nBuy it."), (0, "", "Broke at once."), (1, "Fine", ""),
        (0, "  ", " "), (0, "Meh", "Not again.")])
    examples = list(iter_polarity_parquet(path, skip_empty=True))
    assert [(e.id, e.text, e.label) for e in examples] == [
        ("shard.parquet:1", "Great: Works well. Buy it.", 1),
        ("shard.parquet:2", "Broke at once.", 0), ("shard.parquet:3", "Fine", 1),
        ("shard.parquet:5", "Meh: Not again.", 0)]
    with pytest.raises(DataError, match=r"shard\.parquet, row 4, field 'content': empty review"):
        list(iter_polarity_parquet(path))


def test_iter_polarity_parquet_rejects_bad_files(tmp_path):
    path = write_polarity(tmp_path / "bad.parquet", [(1, "a", "b"), (2, "c", "d")])
    with pytest.raises(DataError, match=r"bad\.parquet, row 2, field 'label': unknown label 2"):
        list(iter_polarity_parquet(path))
    pq.write_table(pa.table({"label": [1], "text": ["x"]}), path)
    with pytest.raises(DataError, match=r"no column title, content"):
        list(iter_polarity_parquet(path))
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable parquet file"):
        list(iter_polarity_parquet(path))


# --- fetch_amazon ----------------------------------------------------------------------------

def blitzer_archive() -> bytes:
    review = (b"<review>\n<rating>\n5.0\n</rating>\n<title>\nGood\n</title>\n<review_text>\n"
              b"Nice book.\n</review_text>\n</review>\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("positive", "negative", "unlabeled"):
            info = tarfile.TarInfo(f"sorted_data_acl/books/{name}.review")
            info.size = len(review)
            tar.addfile(info, io.BytesIO(review))
    return buffer.getvalue()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A stand-in for hf_hub_download that writes a two-review shard; records its calls."""
    shard = write_polarity(tmp_path / "hub.parquet", [(1, "Yes", "Good."), (0, "No", "Bad.")])
    calls = []

    def hf_hub_download(repo_id, filename, repo_type, revision, local_dir):
        calls.append((repo_id, filename, repo_type, revision))
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shard.read_bytes())
        return str(target)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", hf_hub_download)
    monkeypatch.setitem(amazon_sources.POLARITY_SHARDS, "test-00000-of-00001",
                        hashlib.sha256(shard.read_bytes()).hexdigest())
    return calls


def test_fetch_amazon_fills_the_folder(server, monkeypatch, tmp_path, hub):
    server.payload = blitzer_archive()
    monkeypatch.setattr(amazon_sources, "BLITZER_URL", server.url.replace("file.bin", "a.tgz"))
    folder = tmp_path / "amazon"
    paths = fetch_amazon(folder)
    assert paths == [folder / "sorted_data_acl.tar.gz",
                     folder / "amazon_polarity_test-00000-of-00001.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths)
    assert hub == [(amazon_sources.POLARITY_REPO, "amazon_polarity/test-00000-of-00001.parquet",
                    "dataset", amazon_sources.POLARITY_REVISION)]
    assert [e.text for e in iter_polarity_parquet(paths[1])] == ["Yes: Good.", "No: Bad."]
    assert fetch_amazon(folder) == paths and len(server.ranges) == len(hub) == 1  # kept


def test_fetch_amazon_refuses_what_is_not_the_archive(server, monkeypatch, tmp_path):
    server.payload = b"<html>moved</html>"
    monkeypatch.setattr(amazon_sources, "BLITZER_URL", server.url)
    with pytest.raises(DataError, match=r"not the multi-domain sentiment archive"):
        fetch_amazon(tmp_path, shards=())
    assert list(tmp_path.iterdir()) == []


def test_fetch_amazon_offline_names_the_url_and_the_place(monkeypatch, tmp_path, hub):
    (tmp_path / "sorted_data_acl.tar.gz").write_bytes(b"already here")

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(DataError, match=r"amazon_polarity_test-00000-of-00001\.parquet: not "
                                        r"found, and downloading https://huggingface\.co/"
                                        r"datasets/fancyzhx/amazon_polarity/resolve/\w+/"
                                        r"amazon_polarity/test-00000-of-00001\.parquet failed "
                                        r"\(offline\); offline, copy the file there or put any "
                                        r"Amazon review file"):
        fetch_amazon(tmp_path)
    with pytest.raises(ValueError, match=r"unknown amazon_polarity shard 'dev'"):
        fetch_amazon(tmp_path, shards=["dev"])
