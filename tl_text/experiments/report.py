"""Experiment results as a Markdown table, JSON, CSV and a PNG plot (written atomically)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tl_text.atomic import atomic_write


def group_accuracies(rows: list[dict]) -> dict[tuple[float, str], list[float]]:
    """{(fraction, arm): [accuracy per seed]}, in first-seen order."""
    groups: dict[tuple[float, str], list[float]] = defaultdict(list)
    for row in rows:
        groups[(row["fraction"], row["arm"])].append(row["accuracy"])
    return groups


def summarize(rows: list[dict]) -> str:
    """Markdown table: one row per arm, one column per fraction, mean ± std over seeds (%)."""
    groups = group_accuracies(rows)
    fractions = sorted({f for f, _ in groups})
    arms = list(dict.fromkeys(arm for _, arm in groups))
    seeds = max(len(v) for v in groups.values())
    docs = {row["fraction"]: row["train_docs"] for row in rows}
    head = " | ".join(f"{f:g} ({docs[f]:,} docs)" for f in fractions)
    lines = [f"| arm | {head} |", "|---" * (len(fractions) + 1) + "|"]
    for arm in arms:
        cells = []
        for f in fractions:
            acc = np.array(groups.get((f, arm), [])) * 100
            cells.append(f"{acc.mean():.2f} ± {acc.std():.2f}" if len(acc) else "–")
        lines.append(f"| {arm} | {' | '.join(cells)} |")
    lines.append(f"\nAccuracy (%) on {rows[0]['test_docs']:,} IMDB test reviews, "
                 f"mean ± std over {seeds} seed(s).")
    return "\n".join(lines)


def write_results(out: Path, config: dict, rows: list[dict], summary: str,
                  elapsed: float) -> list[Path]:
    """results.json, results.csv, results.md and results.png in `out`."""
    payload = {"config": config, "elapsed_seconds": round(elapsed, 1), "rows": rows,
               "summary": _summary_numbers(rows)}
    return write_files(out, payload, rows, summary, _plot(rows))


def write_files(out: Path, payload: dict, rows: list[dict], summary: str,
                plot: bytes | None = None) -> list[Path]:
    """Any experiment's results in `out`, each written atomically: results.json (`payload`),
    results.csv (`rows`), results.md (`summary`) and, when given, results.png (`plot`)."""
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    written = [atomic_write(out / "results.json", json.dumps(payload, indent=2).encode()),
               atomic_write(out / "results.csv", buffer.getvalue().encode()),
               atomic_write(out / "results.md", (summary + "\n").encode())]
    if plot is not None:
        written.append(atomic_write(out / "results.png", plot))
    return written


def _summary_numbers(rows: list[dict]) -> list[dict]:
    return [{"fraction": f, "arm": arm, "mean": float(np.mean(acc)), "std": float(np.std(acc)),
             "seeds": len(acc)} for (f, arm), acc in group_accuracies(rows).items()]


def _plot(rows: list[dict]) -> bytes:
    """Bars (one fraction) or accuracy-vs-fraction lines (a sweep), with seed std."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = _summary_numbers(rows)
    fractions = sorted({s["fraction"] for s in stats})
    arms = list(dict.fromkeys(s["arm"] for s in stats))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    if len(fractions) == 1:
        means = [100 * next(s["mean"] for s in stats if s["arm"] == a) for a in arms]
        stds = [100 * next(s["std"] for s in stats if s["arm"] == a) for a in arms]
        ax.bar(arms, means, yerr=stds, capsize=4, color="tab:blue")
        for x, m in enumerate(means):
            ax.text(x, m + 0.5, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(max(0, min(means) - 15), 100)
        ax.set_title(f"IMDB accuracy at fraction {fractions[0]:g}")
    else:
        for arm in arms:
            points = sorted((s["fraction"], 100 * s["mean"], 100 * s["std"])
                            for s in stats if s["arm"] == arm)
            x, y, err = zip(*points)
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=arm)
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f:g}" for f in fractions])
        ax.set_xlabel("fraction of IMDB training reviews")
        ax.legend()
        ax.set_title("IMDB accuracy vs. training data")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
