"""e5 exports with SentencePiece in the graph: token ids against the Hugging Face tokenizer on
real reviews, and the SavedModel against the in-memory classifier.

    python benchmarks/bench_e5_export.py ids --nsmc 30000 --imdb 5000
    python benchmarks/bench_e5_export.py export --docs 500

ids: stratified samples (seed 2) of the NSMC and IMDB training reviews, untruncated; the
number of reviews whose in-graph ids differ from `TransformerClassifier.token_ids`, and the
seconds each side took.
export: `pretrained="e5"` with a fresh head (max_length 128, head+tail), exported; export
seconds, the largest probability difference and docs/s (in-memory `predict_proba` vs the
loaded export, one run each after a warm-up batch) on the first `--docs` NSMC test reviews.
The load average is recorded beside each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

import tl_text  # noqa: F401  (Keras 2, before TensorFlow loads)
from tl_text.data import load_imdb, load_nsmc
from tl_text.export import export_model, load_exported
from tl_text.export.sentencepiece import SentencePieceTokenizer, hf_unigram_settings
from tl_text.models import TransformerClassifier


def ids(args) -> dict:
    from transformers import AutoTokenizer

    from tl_text.models.e5 import get_model_path

    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    reference = TransformerClassifier(None, tokenizer, 1_000_000, "head", "e5")
    graph = SentencePieceTokenizer(hf_unigram_settings(tokenizer), 1_000_000, "head",
                                   reference.input_names)
    nsmc = load_nsmc(("train",), data_dir=args.data_dir)["train"]
    imdb = load_imdb(("train",), data_dir=args.data_dir)["train"]
    result = {}
    for name, data, count in (("nsmc", nsmc, args.nsmc), ("imdb", imdb, args.imdb)):
        texts = data.fraction(count / len(data), seed=2).texts
        started = time.perf_counter()
        expected = reference.token_ids(texts)
        hugging_face = time.perf_counter() - started
        got = [graph.token_ids(tf.constant(texts[i:i + 1000])).to_list()
               for i in range(0, len(texts), 1000)]
        in_graph = time.perf_counter() - started - hugging_face
        got = [row for rows in got for row in rows]
        result[name] = {"texts": len(texts),
                        "differing": sum(a != b for a, b in zip(got, expected)),
                        "tokens": sum(map(len, expected)),
                        "hugging_face_s": round(hugging_face, 1),
                        "in_graph_s": round(in_graph, 1)}
    return result


def export(args) -> dict:
    texts = load_nsmc(("test",), data_dir=args.data_dir)["test"].texts[:args.docs]
    network = TransformerClassifier.from_pretrained("e5", ("neg", "pos"), 128, "head+tail")
    with tempfile.TemporaryDirectory(prefix="e5-export-") as scratch:
        started = time.perf_counter()
        folder = export_model(network, os.path.join(scratch, "e5"))
        exported_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        loaded = load_exported(folder)
        network.predict_proba(texts[:64])
        loaded.predict_columns(texts[:64], batch_size=64)  # warm-up (tracing)
        started = time.perf_counter()
        expected = network.predict_proba(texts, batch_size=64)
        in_memory = time.perf_counter() - started
        started = time.perf_counter()
        got = np.array(loaded.predict_columns(texts, batch_size=64)["probabilities"])
        saved_model = time.perf_counter() - started
    return {"docs": len(texts), "export_s": round(exported_s, 1), "export_mb": round(size / 1e6),
            "max_abs_diff": float(np.abs(got - expected).max()),
            "in_memory_docs_per_s": round(len(texts) / in_memory, 1),
            "saved_model_docs_per_s": round(len(texts) / saved_model, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("ids", "export"))
    parser.add_argument("--nsmc", type=int, default=30_000)
    parser.add_argument("--imdb", type=int, default=5_000)
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = ids(args) if args.part == "ids" else export(args)
    print(json.dumps({"part": args.part, "args": vars(args), "result": result,
                      "load_before": load_before, "load_after": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
