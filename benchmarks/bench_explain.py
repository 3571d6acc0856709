"""What `tl-text explain` costs: one occlusion explanation against one prediction of the same
review, on real IMDB test reviews and an existing export.

    python benchmarks/bench_explain.py saved_models/imdb-best --data-dir ../shared/data

For each of `--reviews` test reviews (every `step`-th, so lengths vary): the words, the
seconds of `explain` (all occluded copies in one batched call) and of `predict` on the review
alone; medians over `--repeats` runs, printed as one JSON line per review and a summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="export base path or version folder")
    parser.add_argument("--data-dir", help="data root (default: $TL_TEXT_DATA)")
    parser.add_argument("--reviews", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from tl_text.data import load_imdb
    from tl_text.export import load_exported
    from tl_text.export.explain import explain

    model = load_exported(args.model)
    test = load_imdb(["test"], data_dir=args.data_dir)["test"]
    step = len(test) // args.reviews
    model.predict([test.texts[0]])  # warm up the signature
    ratios = []
    for text in test.texts[::step][:args.reviews]:
        explain_s, predict_s = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = explain(model, text)
            explain_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            model.predict([text])
            predict_s.append(time.perf_counter() - started)
        row = {"words": len(result.spans), "explain_s": statistics.median(explain_s),
               "predict_s": statistics.median(predict_s)}
        ratios.append(row["explain_s"] / row["predict_s"])
        print(json.dumps(row))
    print(json.dumps({"model": str(model.path), "median_explain_over_predict":
                      statistics.median(ratios)}))


if __name__ == "__main__":
    main()
