"""Hostile REST clients: each gets its exact status code and a JSON error naming the problem,
and the server goes on answering."""

import http.client
import json
import socket
import time

import pytest
from test_serve import TEXTS, _start, _stop, base, kim  # noqa: F401 (fixtures)

MAX_BODY, TIMEOUT = 20_000, 2.0


@pytest.fixture(scope="module")
def server(base):  # noqa: F811
    server, thread = _start(base, max_body_bytes=MAX_BODY, idle_timeout=TIMEOUT,
                            request_timeout=TIMEOUT)
    yield server
    _stop(server, thread)


def _request(server, method, path, body=b"", headers=None):
    """(status, headers (case-insensitive), JSON body) of one request on a new connection."""
    connection = http.client.HTTPConnection(*server.server_address, timeout=30)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json",
                                                **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def _raw(server, chunks, pause=0.0):
    """Send `chunks` of bytes, `pause` seconds apart, then read until the server closes."""
    with socket.create_connection(server.server_address, timeout=30) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:  # closed by the server mid-way
                break
            time.sleep(pause)
        received = b""
        while data := sock.recv(65536):
            received += data
    return received


def _parse(reply: bytes):
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1").lower(), json.loads(body)


def _assert_serves(server):
    status, _, body = _request(server, "POST", "/v1/models/imdb:predict",
                               json.dumps({"instances": TEXTS}).encode())
    assert status == 200 and len(body["predictions"]) == len(TEXTS)


PREDICT = "/v1/models/imdb:predict"
CASES = {
    "malformed JSON": ("POST", PREDICT, b'{"instances": ["a",]}', {}, 400,
                       "the body is not valid UTF-8 JSON: Expecting value"),
    "multipart body": ("POST", PREDICT, b"--x\r\n\r\na\r\n--x--",
                       {"Content-Type": "multipart/form-data; boundary=x"}, 415,
                       "Content-Type 'multipart/form-data; boundary=x' is not UTF-8 JSON"),
    "Latin-1 charset": ("POST", PREDICT, b'{"instances": ["caf\xe9"]}',
                        {"Content-Type": "application/json; charset=latin-1"}, 415,
                        "is not UTF-8 JSON; send application/json"),
    "no instances": ("POST", PREDICT, b'{"examples": ["a"]}', {}, 400,
                     'the body must be a JSON object with either "instances" or "inputs"'),
    "extra key": ("POST", PREDICT, b'{"instances": ["a"], "top_k": 3}', {}, 400,
                  "unknown request keys ['top_k']"),
    "number instance": ("POST", PREDICT, b'{"instances": ["a", 42]}', {}, 400,
                        '"instances"[1] must be a string (or {"text": string}), got 42'),
    "nested lists": ("POST", PREDICT, b'{"instances": [["a", "b"]]}', {}, 400,
                     '"instances"[0] must be a string (or {"text": string}), got ["a", "b"]'),
    "deep nesting": ("POST", PREDICT, b'{"instances": ' + b"[" * 5000 + b"]" * 5000
                     + b"}", {}, 400, "the body is not valid UTF-8 JSON: maximum recursion"),
    "empty instances": ("POST", PREDICT, b'{"instances": []}', {}, 400,
                        '"instances" is empty: nothing to classify'),
    "body over the limit": ("POST", PREDICT, json.dumps({"instances": ["a" * MAX_BODY]}).encode(),
                            {}, 413, "the limit is 20,000 (--max-body-bytes)"),
    "lone surrogate": ("POST", PREDICT, b'{"instances": ["ok", "bad \\ud800 text"]}', {}, 400,
                       '"instances"[1] is not valid Unicode text: surrogates not allowed '
                       '"\\ud800" at character 4'),
    "5,000-digit number": ("POST", PREDICT, b'{"instances": [' + b"9" * 5000 + b"]}", {}, 400,
                           "the body is not valid UTF-8 JSON: Exceeds the limit"),
    "unknown model": ("POST", "/v1/models/other:predict", b'{"instances": ["a"]}', {}, 404,
                      "model 'other' not found; this server serves 'imdb'"),
    "unknown version": ("GET", "/v1/models/imdb/versions/2", b"", {}, 404,
                        "version 2 of 'imdb' is not available; serving version 1"),
    "5,000-digit version": ("POST", f"/v1/models/imdb/versions/{'7' * 5000}:predict",
                            b'{"instances": ["a"]}', {}, 404,
                            f"version {'7' * 24}... (5,000 characters) of 'imdb' is not "
                            f"available"),
    "PUT predict": ("PUT", PREDICT, b'{"instances": ["a"]}', {}, 405,
                    "/v1/models/imdb:predict takes POST, not PUT"),
    "DELETE predict": ("DELETE", PREDICT, b"", {}, 405,
                       "/v1/models/imdb:predict takes POST, not DELETE"),
    "unknown route": ("GET", "/v1/models/imdb:explain", b"", {}, 404,
                      "no route /v1/models/imdb:explain"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hostile_requests_get_exact_json_errors(server, case):
    method, path, body, headers, code, message = CASES[case]
    status, reply_headers, reply = _request(server, method, path, body, headers)
    assert status == code and message in reply["error"], reply["error"][:300]
    if code == 405:
        assert reply_headers["Allow"] == "POST"
    _assert_serves(server)


def test_a_client_sending_headers_byte_by_byte_is_answered_408_and_dropped(server):
    request = b"POST /v1/models/imdb:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n"
    chunks = [request[i:i + 1] for i in range(len(request))]  # never ends its headers
    status, head, reply = _parse(_raw(server, chunks, pause=TIMEOUT / 20))
    assert status == 408 and "connection: close" in head
    assert reply == {"error": "the request did not arrive whole within 2 s (--request-timeout)"}
    _assert_serves(server)


def test_a_body_shorter_than_its_content_length_is_answered_408(server):
    head = b"POST /v1/models/imdb:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    status, _, reply = _parse(_raw(server, [head + b'{"instances": ["a"']))
    assert status == 408 and "--request-timeout" in reply["error"]
    _assert_serves(server)


def test_a_silent_connection_is_closed_after_the_idle_timeout(server):
    assert _raw(server, []) == b""  # the server closed it: recv returned end of stream
    _assert_serves(server)


@pytest.mark.parametrize("request_line", [
    b"GARBAGE\r\n\r\n", b"POST /v1/models/imdb:predict HTTP/1.1\r\nContent-Length: ten\r\n\r\n"])
def test_malformed_http_is_a_json_400(server, request_line):
    status, head, reply = _parse(_raw(server, [request_line]))
    assert status == 400 and "connection: close" in head
    assert reply["error"].startswith("malformed HTTP request")
    _assert_serves(server)
