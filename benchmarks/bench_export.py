"""Serving speed of an exported Kim CNN, Denil CNN or MiniLM: SavedModel vs. in-memory, REST.

    TL_TEXT_DATA=../shared/data python benchmarks/bench_export.py
    TL_TEXT_DATA=../shared/data python benchmarks/bench_export.py --model denil
    TL_TEXT_DATA=../shared/data python benchmarks/bench_export.py --limit 1000 --requests 100
    TL_TEXT_DATA=../shared/data python benchmarks/bench_export.py --model minilm

1. Throughput (docs/s) over the 25,000 IMDB test reviews at batch sizes 256 and 1024, median
   of `--repeats` runs, in one process: the Keras model's `predict` against the exported
   SavedModel's `ExportedModel.predict` (which also turns its outputs into Python lists).
2. REST load test: the server runs in a subprocess (`tl_text.export.serve`); `--clients`
   threads, one keep-alive connection each, send `--requests` requests of `--docs-per-request`
   reviews in all; p50/p99 latency, requests/s and failed requests.

The Kim CNN has the experiment's size (30,000-token vocabulary adapted on the reviews scored,
400 tokens, 50-d embeddings, 100 filters of widths 3, 4, 5) and untrained weights: its speed
does not depend on their values. `--model denil`: the Denil CNN on the same vocabulary
(30 sentences of up to 50 words), no REST test by default.

`--model minilm`: all-MiniLM-L6-v2 with a fresh 2-class head, 256 tokens, head+tail
truncation, exported with in-graph WordPiece tokenisation, against the in-memory
`TransformerClassifier.predict_proba` (Hugging Face tokenizer, batches of similar lengths).
Defaults: a stratified 2,000-review subset of the test set, batch 64, 1 run, no REST test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

import numpy as np

DEFAULTS = {"kim": {"limit": None, "batch_sizes": [256, 1024], "repeats": 3, "requests": 2000},
            "denil": {"limit": None, "batch_sizes": [256, 1024], "repeats": 3, "requests": 0},
            "minilm": {"limit": 2000, "batch_sizes": [64], "repeats": 1, "requests": 0}}


def build_model(texts: list[str], name: str):
    import tf_keras
    from tl_text.models import denil_cnn, kim_cnn, make_vectorizer
    tf_keras.utils.set_random_seed(0)
    vectorizer = make_vectorizer(texts, max_tokens=30_000, sequence_length=400)
    matrix = np.random.default_rng(0).normal(0, 0.1, (vectorizer.vocabulary_size(), 50))
    return (kim_cnn if name == "kim" else denil_cnn)(vectorizer, matrix)


def docs_per_second(predict, texts: list[str], repeats: int):
    """(median docs/s, each run's docs/s, the last run's result)."""
    predict(texts[:64])  # warm-up: tracing and first-call allocations
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = predict(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates), rates, result


def in_memory_predict(model):
    """predict_proba(texts, batch_size) of the model in memory."""
    from tl_text.models.transformer import TransformerClassifier
    if isinstance(model, TransformerClassifier):
        return model.predict_proba
    from tl_text.training.keras_fit import predict_proba
    return lambda texts, batch_size: predict_proba(model, texts, batch_size)


def throughput(model, exported, texts: list[str], batch_sizes: list[int], repeats: int) -> None:
    predict_proba = in_memory_predict(model)
    rows, difference = [], 0.0
    for size in batch_sizes:
        memory, memory_runs, expected = docs_per_second(lambda t: predict_proba(t, size), texts,
                                                        repeats)
        saved, saved_runs, predicted = docs_per_second(lambda t: exported.predict(t, size),
                                                       texts, repeats)
        probabilities = np.array([row["probabilities"] for row in predicted])
        difference = max(difference, np.abs(expected - probabilities).max())
        rows.append(f"| {size} | {memory:,.0f} | {saved:,.0f} | "
                    f"{', '.join(f'{r:,.1f}' for r in memory_runs)}; "
                    f"{', '.join(f'{r:,.1f}' for r in saved_runs)} |")
    print(f"max |in-memory - SavedModel| probability difference over {len(texts):,} reviews: "
          f"{difference:.1e}")
    print("| batch | in memory (docs/s) | SavedModel (docs/s) | runs (in memory; SavedModel) |")
    print("|---|---|---|---|")
    print("\n".join(rows))


def start_server(base_path: str, *options: str, pythonpath: str | None = None
                 ) -> tuple[subprocess.Popen, str]:
    """`tl-text serve` on a free port (tl_text from `pythonpath` if given); the process and
    the model's URL."""
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    server = subprocess.Popen([sys.executable, "-m", "tl_text.cli", "serve", "--model-base-path",
                               base_path, "--port", "0", *options],
                              stdout=subprocess.PIPE, text=True, env=env)
    match = re.search(r" at (http://\S+)", server.stdout.readline())
    if match is None:
        server.kill()
        raise RuntimeError(f"the server did not start (exit code {server.wait()})")
    return server, match[1]


def run_clients(client, count: int) -> float:
    """Run `client` in `count` threads at once; the seconds until all have returned."""
    threads = [threading.Thread(target=client) for _ in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def load_test(url: str, texts: list[str], clients: int, requests: int, docs: int) -> None:
    parts = urlsplit(url)
    path = f"{parts.path}:predict"
    bodies = [json.dumps({"instances": [texts[(i * docs + j) % len(texts)]
                                        for j in range(docs)]}).encode()
              for i in range(requests)]
    next_request, lock = iter(range(requests)), threading.Lock()
    latencies, failures = [], []

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while True:
            with lock:
                i = next(next_request, None)
            if i is None:
                break
            start = time.perf_counter()
            try:
                connection.request("POST", path, bodies[i],
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                ok = response.status == 200 and len(json.loads(response.read())
                                                    ["predictions"]) == docs
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                ok = False
                connection.close()  # reconnects on the next request
            (latencies if ok else failures).append(time.perf_counter() - start)
        connection.close()

    warm_up = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    warm_up.request("POST", path, bodies[0], {"Content-Type": "application/json"})
    warm_up.getresponse().read()
    warm_up.close()
    seconds = run_clients(client, clients)
    ms = np.percentile(latencies, [50, 99]) * 1000 if latencies else [float("nan")] * 2
    print(f"REST: {requests:,} requests of {docs} reviews from {clients} clients in "
          f"{seconds:.1f} s: {requests / seconds:,.1f} requests/s "
          f"({requests * docs / seconds:,.0f} docs/s), latency p50 {ms[0]:.1f} ms, "
          f"p99 {ms[1]:.1f} ms, failed requests {len(failures)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="kim")
    parser.add_argument("--limit", type=int, help="score only N test reviews (CNNs: the "
                        "first N; minilm: a stratified N, default 2,000)")
    parser.add_argument("--batch-sizes", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, help="REST requests (0: no REST test)")
    parser.add_argument("--docs-per-request", type=int, default=8)
    args = parser.parse_args()
    for option, value in DEFAULTS[args.model].items():
        if getattr(args, option) is None:
            setattr(args, option, value)

    from tl_text.data import load_imdb
    from tl_text.export import export_model, load_exported
    test = load_imdb(("test",), data_dir=args.data_dir)["test"]
    if args.model in ("kim", "denil"):
        texts = test.texts[:args.limit]
        model = build_model(texts, args.model)
    else:
        from tl_text.models.transformer import TransformerClassifier
        texts = test.fraction(min(1.0, args.limit / len(test)), seed=0).texts
        model = TransformerClassifier.from_pretrained("minilm", label_names=("neg", "pos"),
                                                      max_length=256, truncation="head+tail")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_model(model, f"{tmp}/imdb-{args.model}")
        print(f"export: {time.perf_counter() - start:.1f} s, "
              f"{sum(f.stat().st_size for f in path.rglob('*') if f.is_file()) / 1e6:.1f} MB")
        exported = load_exported(path)
        throughput(model, exported, texts, args.batch_sizes, args.repeats)
        if not args.requests:
            return
        server, url = start_server(f"{tmp}/imdb-{args.model}")
        try:
            load_test(url, texts, args.clients, args.requests, args.docs_per_request)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
