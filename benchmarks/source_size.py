"""Source-size study: transfer arms at 5 % against the number of Amazon source reviews.

    bash benchmarks/source_size.sh        # the three transfer runs (classic, half, all)
    python benchmarks/source_size.py benchmarks/results/source-size/{classic,half,all} \
        --out benchmarks/results/source-size

Reads each run's results.json, takes the source size from the metadata of the source CNN
export it used (`init_from` of the finetune arm), and writes `source-size.{md,png}`: each
arm's mean ± std over seeds against the source size.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="transfer result folders")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from tl_text.atomic import atomic_path
    from tl_text.plots import accuracy_lines_png

    stats = []
    for run in args.runs:
        result = json.loads((Path(run) / "results.json").read_text())
        source = Path(result["classifiers"]["finetune"]["config"]["init_from"])
        documents = json.loads((source / "metadata.json").read_text())["documents"]
        for arm in dict.fromkeys(row["arm"] for row in result["rows"]):
            accuracies = [row["accuracy"] for row in result["rows"] if row["arm"] == arm]
            stats.append({"source_reviews": documents, "arm": arm, "run": Path(run).name,
                          "mean": statistics.mean(accuracies),
                          "std": statistics.pstdev(accuracies),  # as the experiment tables
                          "seeds": len(accuracies)})
    stats.sort(key=lambda s: (s["source_reviews"], s["arm"]))
    arms = list(dict.fromkeys(s["arm"] for s in stats))
    sizes = sorted({s["source_reviews"] for s in stats})
    lines = ["| source reviews | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for size in sizes:
        cells = [next((f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}" for s in stats
                       if s["source_reviews"] == size and s["arm"] == arm), "") for arm in arms]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "source-size.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(out / "source-size.json") as tmp:
        tmp.write_text(json.dumps(stats, indent=1))
    with atomic_path(out / "source-size.png") as tmp:
        tmp.write_bytes(accuracy_lines_png(stats, "source_reviews", "Amazon source reviews",
                                           "IMDB accuracy at 5 % vs. source size"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
