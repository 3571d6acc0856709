"""A short human-readable summary of corpus splits: counts, class balance, lengths, a sample."""

from __future__ import annotations

import textwrap

import numpy as np

from tl_text.data.dataset import TextDataset

PERCENTILES = (5, 50, 95)


def describe(splits: dict[str, TextDataset], samples: int = 2, seed: int = 0) -> str:
    """Markdown table of documents per split and label, word-length percentiles, documents per
    source (and duplicates removed) where a split records them, and samples."""
    label_names = next(iter(splits.values())).label_names
    pct = " | ".join(f"p{p} words" for p in PERCENTILES)
    lines = [f"| split | docs | {' | '.join(label_names)} | {pct} | max words |",
             "|---" * (3 + len(label_names) + len(PERCENTILES)) + "|"]
    for name, ds in splits.items():
        counts = ds.class_counts()
        lengths = np.array([len(t.split()) for t in ds.texts])
        shares = [f"{c:,} ({c / max(len(ds), 1):.1%})" if (ds.labels >= 0).any() else "–"
                  for c in counts.values()]  # "–": an unlabelled split
        pcts = " | ".join(f"{np.percentile(lengths, p):.0f}" for p in PERCENTILES)
        lines.append(f"| {name} | {len(ds):,} | {' | '.join(shares)} | {pcts} | "
                     f"{lengths.max():,} |")
    for name, ds in splits.items():
        if "source" in ds.extra:
            sources = dict(zip(*np.unique(ds.extra["source"], return_counts=True)))
            removed = ds.info.get("duplicates removed", {})
            lines.append(f"\n{name} by source ({sum(removed.values()):,} duplicates removed):")
            lines.extend(f"  {source}: {sources.get(source, 0):,} kept, "
                         f"{removed.get(source, 0):,} removed"
                         for source in dict.fromkeys([*removed, *sources]))
    rng = np.random.default_rng(seed)
    for name, ds in splits.items():
        for i in rng.choice(len(ds), size=min(samples, len(ds)), replace=False):
            label = ds.label_names[ds.labels[i]] if ds.labels[i] >= 0 else "unlabelled"
            text = textwrap.shorten(ds.texts[i], width=160, placeholder=" …")
            lines.append(f"\n[{name} {ds.ids[i]} {label}] {text}")
    return "\n".join(lines)
