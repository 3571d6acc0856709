"""The TF Serving-compatible REST server, over real HTTP on the loopback interface."""

import asyncio
import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tf_keras

from tl_text.cli import main
from tl_text.errors import ConfigError, TlTextError
from tl_text.export import export_model, load_exported
from tl_text.export.serve import make_server
from tl_text.models import kim_cnn, make_vectorizer
from tl_text.training.keras_fit import fit

TEXTS = ["A wonderful, moving film.", "Awful. I walked out after twenty minutes.", ""]
MAX_BATCH, MAX_BODY = 16, 20_000


@pytest.fixture(scope="module")
def kim(imdb_small):
    tf_keras.utils.set_random_seed(0)
    vectorizer = make_vectorizer(imdb_small["train"].texts, max_tokens=5000,
                                 sequence_length=200)
    matrix = np.random.default_rng(0).normal(0, 0.1, (vectorizer.vocabulary_size(), 16))
    model = kim_cnn(vectorizer, matrix, filters=16)
    fit(model, imdb_small["train"], epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def base(kim, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "imdb"
    export_model(kim, path, metadata={"training_data": "imdb train"})
    return path


def _start(base, **options):
    server = make_server(base, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _stop(server, thread):
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(base):
    server, thread = _start(base, max_batch=MAX_BATCH, max_body_bytes=MAX_BODY)
    yield server
    _stop(server, thread)


def _call(url, payload=None, method=None, data=None):
    """(status, JSON body) of one request; `payload` is sent as JSON, `data` as raw bytes."""
    if payload is not None:
        data = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _assert_serves(server, texts=TEXTS):
    status, body = _call(f"{server.url}:predict", {"instances": texts})
    assert status == 200 and len(body["predictions"]) == len(texts)


def test_model_status_and_metadata(server):
    status, body = _call(server.url)
    assert status == 200
    assert body == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
        "error_code": "OK", "error_message": ""}}]}
    status, meta = _call(f"{server.url}/metadata")
    assert status == 200 and meta["labels"] == ["neg", "pos"] and meta["version"] == 1
    assert meta["training_data"] == "imdb train" and meta["name"] == "imdb"
    assert _call(f"{server.url}/versions/1/metadata") == (200, meta)


def test_predict_rows_and_columns(server, base):
    expected = load_exported(base).predict(TEXTS)
    for payload in ({"instances": TEXTS}, {"instances": [{"text": t} for t in TEXTS]},
                    {"instances": TEXTS, "signature_name": "serving_default"}):
        status, body = _call(f"{server.url}:predict", payload)
        assert status == 200
        assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
        assert [p["label_id"] for p in body["predictions"]] == [e["label_id"] for e in expected]
        np.testing.assert_allclose([p["probabilities"] for p in body["predictions"]],
                                   [e["probabilities"] for e in expected], atol=1e-6)
    for payload in ({"inputs": TEXTS}, {"inputs": {"text": TEXTS}}):
        status, body = _call(f"{server.url}/versions/1:predict", payload)
        assert status == 200 and set(body["outputs"]) == {"probabilities", "label", "label_id"}
        assert body["outputs"]["label"] == [e["label"] for e in expected]
        np.testing.assert_allclose(body["outputs"]["probabilities"],
                                   [e["probabilities"] for e in expected], atol=1e-6)


BAD_REQUESTS = {
    "bad JSON": ("POST", ":predict", b'{"instances": ["a"', 400, "not valid UTF-8 JSON"),
    "not UTF-8": ("POST", ":predict", b'{"instances": ["\xff"]}', 400, "not valid UTF-8"),
    "not an object": ("POST", ":predict", b'["a"]', 400, 'either "instances" or "inputs"'),
    "both formats": ("POST", ":predict", {"instances": ["a"], "inputs": ["a"]}, 400,
                     'either "instances" or "inputs"'),
    "number instance": ("POST", ":predict", {"instances": ["a", 3]}, 400,
                        '"instances"[1] must be a string'),
    "wrong instance key": ("POST", ":predict", {"instances": [{"review": "a"}]}, 400,
                           '"instances"[0] must be a string'),
    "wrong input name": ("POST", ":predict", {"inputs": {"review": ["a"]}}, 400,
                         'must name the one input "text"'),
    "inputs not a list": ("POST", ":predict", {"inputs": "a"}, 400, "must be a list"),
    "empty batch": ("POST", ":predict", {"instances": []}, 400, "is empty"),
    "unknown key": ("POST", ":predict", {"instances": ["a"], "top_k": 1}, 400,
                    "unknown request keys ['top_k']"),
    "other signature": ("POST", ":predict", {"instances": ["a"], "signature_name": "x"}, 400,
                        "unknown signature 'x'"),
    "batch too large": ("POST", ":predict", {"instances": ["a"] * (MAX_BATCH + 1)}, 413,
                        f"the limit is {MAX_BATCH} (--max-batch)"),
    "body too large": ("POST", ":predict", {"instances": ["a" * MAX_BODY]}, 413,
                       "(--max-body-bytes)"),
    "GET predict": ("GET", ":predict", None, 405, "takes POST, not GET"),
    "POST status": ("POST", "", {"instances": ["a"]}, 405, "takes GET, not POST"),
    "other version": ("POST", "/versions/7:predict", {"instances": ["a"]}, 404,
                      "version 7 of 'imdb' is not available; serving version 1"),
    "classify": ("POST", ":classify", {"instances": ["a"]}, 404, "no route"),
    "PUT predict": ("PUT", ":predict", {"instances": ["a"]}, 405, "takes POST, not PUT"),
    "DELETE predict": ("DELETE", "/versions/1:predict", None, 405, "takes POST, not DELETE"),
    "DELETE status": ("DELETE", "", None, 405, "takes GET, not DELETE"),
    "PATCH metadata": ("PATCH", "/metadata", {"a": 1}, 405, "takes GET, not PATCH"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_bad_requests_get_json_errors_and_the_server_goes_on(server, case):
    method, suffix, body, code, message = BAD_REQUESTS[case]
    data = body if isinstance(body, bytes) else None
    status, reply = _call(f"{server.url}{suffix}", None if data else body, method, data)
    assert status == code and message in reply["error"]
    _assert_serves(server)


@pytest.mark.parametrize("method, suffix, allowed", [
    ("PUT", ":predict", "POST"), ("DELETE", ":predict", "POST"), ("POST", "/metadata", "GET")])
def test_a_wrong_method_is_405_with_an_allow_header(server, method, suffix, allowed):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request(method, f"/v1/models/imdb{suffix}", body=b'{"instances": ["a"]}',
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 405 and response.getheader("Allow") == allowed
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read()) == {
        "error": f"/v1/models/imdb{suffix} takes {allowed}, not {method}"}
    connection.close()
    _assert_serves(server)


@pytest.mark.parametrize("port, message", [
    ("99999", "must be 0 (any free port) to 65535, got 99999"),
    ("-1", "must be 0 (any free port) to 65535, got -1"), ("http", "invalid port value")])
def test_a_port_out_of_range_is_an_option_error(port, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model-base-path", str(tmp_path), "--port", port])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument --port: {message}" in err
    assert "Traceback" not in err


def test_unknown_paths_and_models_are_404_json(server):
    host, port = server.server_address[:2]
    for path in ("/", "/v1/models", "/v1/models/other:predict", "/v2/models/imdb"):
        status, reply = _call(f"http://{host}:{port}{path}")
        assert status == 404 and reply["error"]
    _assert_serves(server)


def test_missing_content_length_is_refused(server):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.putrequest("POST", "/v1/models/imdb:predict")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    connection.close()
    _assert_serves(server)


def test_concurrent_clients(server):
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: _call(f"{server.url}:predict",
                                                {"instances": TEXTS[:1] * (i + 1)}), range(16)))
    assert [status for status, _ in replies] == [200] * 16
    assert [len(body["predictions"]) for _, body in replies] == list(range(1, 17))


def test_a_new_version_is_picked_up(kim, base, tmp_path):
    shutil.copytree(base / "1", tmp_path / "imdb" / "1")
    server, thread = _start(tmp_path / "imdb", poll_seconds=0.1)
    try:
        export_model(kim, tmp_path / "imdb", metadata={"note": "second"})
        deadline = time.monotonic() + 30
        while _call(server.url)[1]["model_version_status"][0]["version"] != "2":
            assert time.monotonic() < deadline, "version 2 was not picked up within 30 s"
            time.sleep(0.1)
        assert _call(f"{server.url}/metadata")[1]["note"] == "second"
        assert _call(f"{server.url}/versions/2:predict", {"instances": TEXTS})[0] == 200
        assert _call(f"{server.url}/versions/1:predict", {"instances": TEXTS})[0] == 404
    finally:
        _stop(server, thread)


def test_make_server_checks_its_arguments(server, base, tmp_path):
    with pytest.raises(TlTextError, match="no exported model"):
        make_server(tmp_path, "127.0.0.1", 0)
    with pytest.raises(ConfigError, match="must be positive"):
        make_server(base, "127.0.0.1", 0, max_batch=0)
    with pytest.raises(TlTextError, match="cannot listen on 127.0.0.1"):
        make_server(base, "127.0.0.1", server.server_address[1])
    _assert_serves(server)


def _metric(url, name):
    """The value of one line of GET /metrics at the server of `url` (a model's URL), e.g.
    'tl_text_model_calls_total'."""
    root = url.split("/v1/")[0]
    with urllib.request.urlopen(f"{root}/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        lines = response.read().decode().splitlines()
    return next(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + " "))


def test_200_simultaneous_predicts_all_connect_and_get_their_own_rows(server, base):
    expected = load_exported(base).predict(TEXTS)
    start = threading.Barrier(200)

    def predict(i):
        start.wait()
        return _call(f"{server.url}:predict", {"instances": [TEXTS[i % 3], TEXTS[(i + 1) % 3]]})

    with ThreadPoolExecutor(200) as pool:
        replies = list(pool.map(predict, range(200)))  # a refused connection raises here
    assert [status for status, _ in replies] == [200] * 200
    for i, (_, body) in enumerate(replies):
        assert [p["label"] for p in body["predictions"]] == [
            expected[i % 3]["label"], expected[(i + 1) % 3]["label"]]


def test_concurrent_requests_share_model_calls(base):
    sizes = list(range(1, 17))  # 136 texts: the batch is full when all have arrived
    server, thread = _start(base, batch_size=sum(sizes), batch_wait=1.0)
    try:
        expected = load_exported(base).predict(TEXTS)
        start = threading.Barrier(len(sizes))

        def predict(size):
            start.wait()
            texts = [TEXTS[size % 3]] * size
            return _call(f"{server.url}:predict", {"instances": texts})

        with ThreadPoolExecutor(len(sizes)) as pool:
            replies = list(pool.map(predict, sizes))
        assert [status for status, _ in replies] == [200] * len(sizes)
        for size, (_, body) in zip(sizes, replies):
            labels = [p["label"] for p in body["predictions"]]
            assert labels == [expected[size % 3]["label"]] * size
        assert _metric(server.url, "tl_text_model_calls_total") < len(sizes)
        assert _metric(server.url, "tl_text_batch_size_count") == _metric(
            server.url, "tl_text_model_calls_total")
        assert _metric(server.url, "tl_text_batch_size_sum") == sum(sizes)
    finally:
        _stop(server, thread)


class FailsOnBoom:
    """The exported model, made to fail on batches that hold the text "boom"."""

    def __init__(self, model):
        self.model = model

    def predict_columns(self, texts):
        if "boom" in texts:
            raise ValueError("cannot score 'boom'")
        return self.model.predict_columns(texts)


def test_a_model_error_fails_only_the_requests_that_cause_it(base):
    from tl_text.export.rest import Batcher, HttpError, Metrics

    model = FailsOnBoom(load_exported(base))
    batcher = Batcher(max_batch_size=256, max_wait=0.5, metrics=Metrics())

    async def three_requests():
        async with batcher.running():
            return await asyncio.gather(
                batcher.predict(model, TEXTS[:2]), batcher.predict(model, ["boom", "a"]),
                batcher.predict(model, TEXTS[2:]), return_exceptions=True)

    first, failed, last = asyncio.run(three_requests())
    expected = model.model.predict_columns(TEXTS)
    assert first["label"] == expected["label"][:2] and last["label"] == expected["label"][2:]
    np.testing.assert_allclose(first["probabilities"], expected["probabilities"][:2], atol=1e-6)
    assert isinstance(failed, HttpError) and failed.status == 500
    assert "cannot score 'boom'" in failed.message
    assert batcher.metrics.model_calls == 4 and batcher.metrics.model_errors == 2  # 1 + 3 alone


class MeetsAnother:
    """The exported model, made to answer only when two calls run at the same time."""

    def __init__(self, model, timeout: float):
        self.model, self.meeting = model, threading.Barrier(2, timeout=timeout)

    def predict_columns(self, texts):
        self.meeting.wait()  # BrokenBarrierError unless another call is running
        return self.model.predict_columns(texts)


@pytest.mark.parametrize("model_threads, answered", [(2, 2), (1, 0)])
def test_model_threads_run_calls_at_once(base, model_threads, answered):
    from tl_text.export.rest import Batcher, Metrics

    model = MeetsAnother(load_exported(base), timeout=30 if model_threads == 2 else 2)
    batcher = Batcher(max_batch_size=2, max_wait=0, metrics=Metrics(),
                      model_threads=model_threads)

    async def two_calls():
        async with batcher.running():
            return await asyncio.gather(batcher.predict(model, TEXTS[:2]),
                                        batcher.predict(model, TEXTS[1:]),
                                        return_exceptions=True)

    replies = asyncio.run(two_calls())
    expected = model.model.predict_columns(TEXTS)
    assert [reply["label"] for reply in replies if isinstance(reply, dict)] == [
        expected["label"][:2], expected["label"][1:]][:answered]
    assert batcher.metrics.model_calls >= 2


def test_metrics_count_requests_by_route_and_status(server):
    _assert_serves(server)
    _call(f"{server.url}/versions/9")
    host, port = server.server_address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    for line in ("# TYPE tl_text_requests_total counter",
                 "# TYPE tl_text_request_duration_seconds histogram",
                 "# TYPE tl_text_batch_size histogram",
                 "# TYPE tl_text_model_calls_total counter"):
        assert line in text
    counts = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("tl_text_requests_total{")}
    assert counts['tl_text_requests_total{route="predict",code="200"}'] >= 1
    assert counts['tl_text_requests_total{route="status",code="404"}'] >= 1
    assert 'tl_text_request_duration_seconds_bucket{route="predict",le="+Inf"}' in text
    assert _metric(server.url, "tl_text_model_calls_total") >= 1
    assert _call(f"http://{host}:{port}/metrics", method="POST", data=b"{}")[0] == 405


@pytest.mark.parametrize("option, value, message", [
    ("--batch-size", "0", "must be at least 1, got 0"),
    ("--batch-wait-ms", "5000", "must be at least 0 and at most 1000, got 5000"),
    ("--idle-timeout", "0", "must be above 0 and at most 86400, got 0"),
    ("--request-timeout", "nan", "must be above 0 and at most 86400, got nan"),
    ("--backlog", "70000", "must be at least 1 and at most 65535, got 70000"),
    ("--model-threads", "0", "must be at least 1 and at most 64, got 0"),
    ("--max-batch", "many", "must be a number, got 'many'"),
    ("--graceful-timeout", "-1", "must be above 0 and at most 86400, got -1")])
def test_server_options_out_of_range_are_option_errors(option, value, message, tmp_path,
                                                       capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model-base-path", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"argument {option}: {message}" in err


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_after_the_request_in_flight(base, stop):
    process = subprocess.Popen(
        [sys.executable, "-m", "tl_text.cli", "serve", "--model-base-path", str(base),
         "--port", "0", "--batch-wait-ms", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r" at (http://\S+)", process.stdout.readline())[1]
        with ThreadPoolExecutor(1) as pool:
            reply = pool.submit(_call, f"{url}:predict", {"instances": TEXTS})
            while _metric(url, "tl_text_batch_queue_texts") < len(TEXTS):
                time.sleep(0.05)  # until the request waits (1 s) for company
            process.send_signal(stop)
            status, body = reply.result()
        assert status == 200 and len(body["predictions"]) == len(TEXTS)
        # a graceful stop: 0, or uvicorn re-raising the signal it caught (-n or 128 + n)
        assert process.wait(timeout=60) in (0, -stop, 128 + stop)
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()
