"""Loader speed and memory on the real corpora.

    python benchmarks/bench_data.py --data-dir ../shared/data --repeats 5

1. IMDB train+test (50,000 reviews) read from aclImdb_v1.tar.gz: median wall seconds.
2. Streaming Amazon fastText reviews: lines/s and peak RSS, for the real file and for the same
   file repeated `--amazon-copies` times (the upstream file has 3.6 M lines; only its first
   6,459 are here), to show that memory does not grow with the file.
Each measurement runs in a fresh subprocess so that peak RSS belongs to it alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

IMDB = """
import json, resource, time
from tl_text.data import load_imdb
t = time.perf_counter()
d = load_imdb(("train", "test"), data_dir={data_dir!r})
seconds = time.perf_counter() - t
assert len(d["train"]) == len(d["test"]) == 25_000
print(json.dumps({{"seconds": seconds,
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

STREAM = """
import json, resource, time
from tl_text.data import iter_fasttext
t = time.perf_counter()
lines = sum(1 for _ in iter_fasttext({path!r}))
seconds = time.perf_counter() - t
print(json.dumps({{"lines": lines, "seconds": seconds, "lines_per_s": lines / seconds,
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

BASELINE = """
import json, resource
import tl_text.data
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(code: str, repeats: int, key: str) -> tuple[float, list[dict]]:
    runs = [measure(code) for _ in range(repeats)]
    return statistics.median(r[key] for r in runs), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--amazon-copies", type=int, default=100)
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).resolve())

    base = measure(BASELINE)["peak_rss_mb"]
    print(f"baseline (import tl_text.data): peak RSS {base:.0f} MB")
    imdb, runs = median_of(IMDB.format(data_dir=data_dir), args.repeats, "seconds")
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(f"IMDB train+test from tar.gz: median {imdb:.2f} s over {args.repeats} runs "
          f"({each}); "
          f"peak RSS {statistics.median(r['peak_rss_mb'] for r in runs):.0f} MB")

    real = Path(data_dir) / "amazon" / "amazon_polarity_test_head6459.ft.txt"
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "amazon_repeated.ft.txt"
        chunk = real.read_bytes()
        with open(big, "wb") as out:
            for _ in range(args.amazon_copies):
                out.write(chunk)
        for label, path in (("real file", real), (f"{args.amazon_copies}x file", big)):
            rate, runs = median_of(STREAM.format(path=str(path)), args.repeats, "lines_per_s")
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            print(f"Amazon fastText stream, {label} ({runs[0]['lines']:,} lines, "
                  f"{path.stat().st_size / 2**20:.0f} MiB): median {rate:,.0f} lines/s, "
                  f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
