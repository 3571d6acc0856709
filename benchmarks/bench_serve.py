"""REST serving under load (`tl-text serve`: uvicorn, Starlette, dynamic batching), issue #16.

    TL_TEXT_DATA=../shared/data python benchmarks/bench_serve.py
    TL_TEXT_DATA=../shared/data python benchmarks/bench_serve.py --limit 4000 --clients 8

The model: the Kim CNN of `bench_export.py` (experiment size, untrained weights: its speed does
not depend on their values), exported, or any export (`--model-base-path`). The server runs
in a subprocess started as `tl-text serve --port 0`.

1. Burst: `--burst` (200) clients, each on its own new connection, send one predict at the
   same moment; connection errors and non-200 answers are counted.
2. Slowloris: p50/p99 latency of one client's predicts before, during and after
   `--slowloris` (50) connections that send their headers one byte every 0.5 s and reconnect
   when dropped (the server runs with `--request-timeout 5`: 408 and drop).
3. Throughput: docs/s of `--clients` (8) concurrent clients, one keep-alive connection each,
   `--docs-per-request` (8) reviews a request, against the offline docs/s of the same export
   in this process (`ExportedModel.predict`, batch 256, median of 3); the model calls' batch
   sizes are read from GET /metrics. The clients are threads of this process on raw keep-alive
   sockets with pre-encoded requests (`KeepAliveClient`), so they take little of the cores
   the server runs on.

`--baseline-pythonpath DIR` also runs the burst and the throughput test against the server of
another checkout (e.g. the http.server version, commit 659ac98), same texts, same process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np

from bench_export import build_model, docs_per_second, run_clients, start_server


def predict_once(url: str, body: bytes, connection: http.client.HTTPConnection | None = None
                 ) -> tuple[bool, float]:
    """(answered 200, seconds) for one predict; a new connection unless one is given."""
    parts = urlsplit(url)
    own = connection is None
    connection = connection or http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    start = time.perf_counter()
    try:
        connection.request("POST", f"{parts.path}:predict", body,
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status == 200, time.perf_counter() - start
    finally:
        if own:
            connection.close()


def burst(url: str, body: bytes, clients: int) -> None:
    start = threading.Barrier(clients)

    def client(_):
        start.wait()
        try:
            return "ok" if predict_once(url, body)[0] else "not 200"
        except (OSError, http.client.HTTPException) as err:
            return type(err).__name__

    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(client, range(clients)))
    errors = [o for o in outcomes if o not in ("ok", "not 200")]
    print(f"burst: {clients} simultaneous predicts: {outcomes.count('ok')} answered 200, "
          f"{outcomes.count('not 200')} other statuses, {len(errors)} connection errors "
          f"{sorted(set(errors))}")


def latencies(url: str, body: bytes, seconds: float) -> str:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    times, failed, end = [], 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            ok, elapsed = predict_once(url, body, connection)
        except (OSError, http.client.HTTPException):
            ok, elapsed = False, 0.0
            connection.close()
        if ok:
            times.append(elapsed)
        else:
            failed += 1
    connection.close()
    if not times:
        return f"no request answered, {failed} failed"
    p50, p99 = np.percentile(times, [50, 99]) * 1000
    return f"{len(times)} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failed} failed"


def slowloris(url: str, connections: int, stop: threading.Event) -> list[int]:
    """Start `connections` threads trickling headers until `stop`; returns a list that counts
    the connections the server closed (filled in as they happen)."""
    parts = urlsplit(url)
    head = f"POST {parts.path}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n".encode()
    dropped = []

    def trickle():
        while not stop.is_set():
            with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
                try:
                    for i in range(len(head)):
                        if stop.wait(0.5):
                            return
                        sock.sendall(head[i:i + 1])
                except OSError:
                    dropped.append(1)

    for _ in range(connections):
        threading.Thread(target=trickle, daemon=True).start()
    return dropped


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one keep-alive socket: requests are sent as pre-encoded
    bytes and only the status line and Content-Length of an answer are parsed, so the
    benchmark's clients, which share the server's cores, take as little CPU as they can."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.head = (f"POST {parts.path}:predict HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: ")
        self.socket = socket.create_connection((parts.hostname, parts.port), timeout=60)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, body: bytes) -> bytes:
        """The pre-encoded request for `body`."""
        return f"{self.head}{len(body)}\r\n\r\n".encode() + body

    def predict(self, request: bytes) -> bool:
        """Send one pre-encoded request; whether it was answered 200."""
        self.socket.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)[1])
        while len(self.buffer) < length:
            self._receive()
        self.buffer = self.buffer[length:]
        return head.startswith(b"HTTP/1.1 200 ")

    def _receive(self) -> None:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk


def throughput(url: str, texts: list[str], clients: int, docs: int) -> float:
    """docs/s of `clients` threads, each with its own keep-alive connection
    (`KeepAliveClient`), sending the texts `docs` a request."""
    bodies = [json.dumps({"instances": texts[i:i + docs]}).encode()
              for i in range(0, len(texts), docs)]
    connections = [KeepAliveClient(url) for _ in range(clients)]
    requests = [connections[0].request(body) for body in bodies]
    next_request, lock, failed = iter(requests), threading.Lock(), []

    def client():
        with lock:
            connection = connections.pop()
        while True:
            with lock:
                request = next(next_request, None)
            if request is None:
                break
            if not connection.predict(request):
                failed.append(request)
        connection.socket.close()

    rate = len(texts) / run_clients(client, clients)
    print(f"REST: {len(bodies):,} requests of {docs} reviews from {clients} clients: "
          f"{rate:,.0f} docs/s, {len(failed)} failed")
    return rate


def metrics(url: str) -> dict[str, float]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def baseline(base: str, texts: list[str], body: bytes, args: argparse.Namespace) -> list[float]:
    """Burst and throughput of the server in `args.baseline_pythonpath`."""
    server, url = start_server(base, pythonpath=args.baseline_pythonpath)
    try:
        predict_once(url, body)
        burst(url, body, args.burst)
        return [throughput(url, texts, args.clients, args.docs_per_request)
                for _ in range(args.repeats)]
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--model-base-path", help="an export to serve (default: a Kim CNN)")
    parser.add_argument("--limit", type=int, default=4000, help="test reviews scored")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--slowloris", type=int, default=50)
    parser.add_argument("--phase-seconds", type=float, default=15.0,
                        help="length of each latency phase (before, during, after)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--docs-per-request", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-threads", default="2",
                        help="tl-text serve --model-threads: model calls that may run at once")
    parser.add_argument("--baseline-pythonpath", help="a checkout whose server is measured too")
    args = parser.parse_args()

    from tl_text.data import load_imdb
    from tl_text.export import export_model, load_exported
    texts = load_imdb(("test",), data_dir=args.data_dir)["test"].texts[:args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        base = args.model_base_path or str(export_model(build_model(texts, "kim"),
                                                        f"{tmp}/imdb-kim").parent)
        exported = load_exported(base)
        offline, runs, _ = docs_per_second(lambda t: exported.predict(t, 256), texts,
                                           args.repeats)
        print(f"offline: {offline:,.0f} docs/s (runs {', '.join(f'{r:,.0f}' for r in runs)})")
        server, url = start_server(base, "--request-timeout", "5",
                                   "--model-threads", args.model_threads)
        try:
            body = json.dumps({"instances": texts[:args.docs_per_request]}).encode()
            predict_once(url, body)  # warm-up
            burst(url, body, args.burst)
            print(f"latency before slowloris: {latencies(url, body, args.phase_seconds)}")
            stop = threading.Event()
            dropped = slowloris(url, args.slowloris, stop)
            print(f"latency during {args.slowloris} slowloris connections: "
                  f"{latencies(url, body, args.phase_seconds)}")
            stop.set()
            print(f"slowloris connections dropped by the server: {len(dropped)}")
            print(f"latency after slowloris: {latencies(url, body, args.phase_seconds)}")
            before = metrics(url)
            rates = [throughput(url, texts, args.clients, args.docs_per_request)
                     for _ in range(args.repeats)]
            after = metrics(url)
        finally:
            server.terminate()
            server.wait(timeout=60)
        if args.baseline_pythonpath:
            baseline_rates = baseline(base, texts, body, args)
            print(f"baseline server ({args.baseline_pythonpath}): median "
                  f"{statistics.median(baseline_rates):,.0f} docs/s = "
                  f"{statistics.median(baseline_rates) / offline:.0%} of offline")
    rest = statistics.median(rates)
    calls = after["tl_text_batch_size_count"] - before["tl_text_batch_size_count"]
    docs = after["tl_text_batch_size_sum"] - before["tl_text_batch_size_sum"]
    buckets = {key: after[key] - before.get(key, 0) for key in after
               if key.startswith("tl_text_batch_size_bucket")}
    print(f"REST median {rest:,.0f} docs/s = {rest / offline:.0%} of offline "
          f"{offline:,.0f} docs/s; {calls:,.0f} model calls, mean batch {docs / calls:.1f} "
          f"texts; cumulative batch-size buckets {buckets}")


if __name__ == "__main__":
    main()
