"""Figures as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot state).

matplotlib is imported inside the functions, so importing tl_text stays light.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence

import numpy as np


def confusion_matrix_png(matrix, label_names: Sequence[str], title: str = "") -> bytes:
    """A confusion matrix (rows: true class, columns: predicted) as PNG: every cell shows its
    count, its colour the count's share of the true class (row-normalised)."""
    counts = np.asarray(matrix, dtype=np.int64)
    classes = len(label_names)
    if counts.shape != (classes, classes):
        raise ValueError(f"a {classes}-class confusion matrix must be {classes}x{classes}, "
                         f"got shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)

    size = 2.5 + 0.55 * classes
    figure = _figure(size + 1.2, size)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    font = 11 if classes <= 5 else 9
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, f"{count:,}", ha="center", va="center", fontsize=font,
                  color="white" if shares[row, column] > 0.5 else "black")
    ticks = np.arange(classes)
    long_names = max(len(name) for name in label_names) > 4
    axes.set_xticks(ticks, label_names, rotation=45 if long_names else 0,
                    ha="right" if long_names else "center", rotation_mode="anchor")
    axes.set_yticks(ticks, label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title)
    return _png(figure)


def accuracy_by_fraction_png(stats: list[dict], corpus: str) -> bytes:
    """Bars (one fraction) or accuracy-vs-fraction lines (a sweep) with the seed std;
    `stats`: {"fraction", "arm", "mean", "std"} dicts, accuracies in [0, 1]."""
    fractions = sorted({s["fraction"] for s in stats})
    arms = list(dict.fromkeys(s["arm"] for s in stats))
    fig = _figure(7, 4.2)
    ax = fig.add_subplot()
    if len(fractions) == 1:
        means = [100 * next(s["mean"] for s in stats if s["arm"] == a) for a in arms]
        stds = [100 * next(s["std"] for s in stats if s["arm"] == a) for a in arms]
        ax.bar(arms, means, yerr=stds, capsize=4, color="tab:blue")
        for x, m in enumerate(means):
            ax.text(x, m + 0.5, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
        ax.set_ylim(max(0, min(means) - 15), 100)
        ax.set_title(f"{corpus} accuracy at fraction {fractions[0]:g}")
    else:
        _lines(ax, stats, "fraction")
        ax.set_xlabel(f"fraction of {corpus} training reviews")
        ax.set_title(f"{corpus} accuracy vs. training data")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig, dpi=120)


def accuracy_lines_png(stats: list[dict], x: str, xlabel: str, title: str) -> bytes:
    """Accuracy (seed mean ± std) of each arm against `x` on a log axis; `stats`:
    {x, "arm", "mean", "std"} dicts, accuracies in [0, 1]."""
    fig = _figure(7, 4.2)
    ax = fig.add_subplot()
    _lines(ax, stats, x)
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", title=title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig, dpi=120)


def _lines(ax, stats: list[dict], x: str) -> None:
    for arm in dict.fromkeys(s["arm"] for s in stats):
        points = sorted((s[x], 100 * s["mean"], 100 * s["std"]) for s in stats if s["arm"] == arm)
        xs, ys, errs = zip(*points)
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=arm)
    ticks = sorted({s[x] for s in stats})
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:,g}" for t in ticks])
    ax.minorticks_off()
    ax.legend()


def accuracy_heatmaps_png(matrices: dict[str, dict]) -> bytes:
    """One annotated train × test accuracy heatmap per model; `matrices[model]` has "train",
    "test" (names) and "accuracy" ([train][test], in [0, 1])."""
    fig = _figure(5.2 * len(matrices), 4.4)
    axes = fig.subplots(1, len(matrices), squeeze=False)[0]
    for ax, (model, m) in zip(axes, matrices.items()):
        acc = 100 * np.array(m["accuracy"])
        low = max(50.0, acc.min() - 5)
        image = ax.imshow(acc, cmap="viridis", vmin=low, vmax=100)
        ax.set_xticks(range(len(m["test"])), m["test"], rotation=30, ha="right")
        ax.set_yticks(range(len(m["train"])), m["train"])
        for (i, j), value in np.ndenumerate(acc):
            bold = m["train"][i] == m["test"][j]
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                    color="white" if value < (low + 100) / 2 else "black",
                    fontweight="bold" if bold else "normal")
        ax.set_xlabel("test domain")
        ax.set_ylabel("train domain")
        ax.set_title(f"{model}: accuracy (%)")
        fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig, dpi=120)


def pareto_front(points: list[dict]) -> list[dict]:
    """The points no other point beats on both "accuracy" and "docs_per_second" (at least as
    good on both, better on one), fastest first."""
    scores = [(p["accuracy"], p["docs_per_second"]) for p in points]

    def dominated(a: tuple) -> bool:
        return any(b[0] >= a[0] and b[1] >= a[1] and b != a for b in scores)

    front = [p for p, score in zip(points, scores) if not dominated(score)]
    return sorted(front, key=lambda p: -p["docs_per_second"])


def pareto_png(points: list[dict], title: str = "") -> bytes:
    """Accuracy (seed mean ± std) against docs/s on a log axis, one labelled point per model,
    each group's Pareto front joined and highlighted; `points`: {"label", "accuracy", "std",
    "docs_per_second"} dicts, accuracies in [0, 1], with an optional "group" (e.g. the
    training-set size) that gets a front and a colour of its own."""
    fig = _figure(8, 5)
    ax = fig.add_subplot()
    groups = list(dict.fromkeys(p.get("group", "") for p in points))
    for colour, group in zip(itertools.cycle(("tab:red", "tab:blue", "tab:green",
                                              "tab:purple")), groups):
        members = [p for p in points if p.get("group", "") == group]
        front = pareto_front(members)
        for p in members:
            on_front = p in front
            ax.errorbar(p["docs_per_second"], 100 * p["accuracy"], yerr=100 * p.get("std", 0),
                        marker="o", markersize=8 if on_front else 5, capsize=3,
                        color=colour, alpha=1.0 if on_front else 0.45)
            ax.annotate(p["label"], (p["docs_per_second"], 100 * p["accuracy"]), fontsize=8,
                        xytext=(5, 4), textcoords="offset points")
        ax.step([p["docs_per_second"] for p in front], [100 * p["accuracy"] for p in front],
                where="post", color=colour, alpha=0.6,
                label=f"Pareto front{f' ({group})' if group else ''}")
    ax.set_xscale("log")
    ax.set(xlabel="prediction speed (docs/s, log scale)", ylabel="test accuracy (%)",
           title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower left")
    return _png(fig, dpi=120)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure, dpi: int = 100) -> bytes:
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=dpi)
    return png.getvalue()
