"""Experiment results as a Markdown table, JSON, CSV and a PNG plot (written atomically), and
the results of an earlier run of the same config that a run resumes."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from tl_text.atomic import atomic_write, check_writable_folder
from tl_text.errors import ConfigError
from tl_text.training.distribute import is_chief, worker_name

PROBABILITIES = "probabilities"  # the folder in `out` with each unit's test probabilities
# options that leave the results unchanged
SAME_RESULTS = ("out", "verbose", "restart", "checkpoint_dir", "checkpoint_every")
# options that only choose which units run: a re-run with other values adds (or leaves out)
# units, and keeps the recorded ones
UNIT_CHOICES = ("arms", "models", "seeds", "fractions")
# options added later: results written before them had these values
LATER_OPTIONS = {"strategy": "default", "ngrams": 2, "bert_freeze_embeddings": False}
WORKERS = ".workers"  # in `out`: the records of a cluster's other workers


def group_accuracies(rows: list[dict]) -> dict[tuple[float, str], list[float]]:
    """{(fraction, arm): [accuracy per seed]}, in first-seen order."""
    groups: dict[tuple[float, str], list[float]] = defaultdict(list)
    for row in rows:
        groups[(row["fraction"], row["arm"])].append(row["accuracy"])
    return groups


def accuracy_table(rows: list[dict], corpus: str) -> str:
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
    lines.append(f"\nAccuracy (%) on {rows[0]['test_docs']:,} {corpus} test reviews, "
                 f"mean ± std over {seeds} seed(s).")
    return "\n".join(lines)


def write_results(out: Path, config: dict, rows: list[dict], summary: str, elapsed: float,
                  plot: bytes | None = None, **extra) -> list[Path]:
    """Any experiment's results in `out`, each file written atomically: results.json (the
    config, elapsed time, rows and `extra`), results.csv (the rows), results.md (`summary`)
    and, when given, results.png (`plot`)."""
    payload = {"config": config, "elapsed_seconds": round(elapsed, 1), "rows": rows, **extra}
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


def results_folder(out: str | Path, strategy) -> Path:
    """Where this process writes an experiment's results: `out` for the chief (and any
    single-process run); `out/.workers/<worker>` for the other workers of a multiworker
    cluster. Every worker runs every unit (each fit is one synchronous computation across
    them), so each keeps its own record to resume from; only the chief's are the results."""
    out = Path(out)
    return out if is_chief(strategy) else out / WORKERS / worker_name(strategy)


def earlier_results(out: Path, config: dict, restart: bool = False) -> dict:
    """The results.json that an earlier run of `config` left in `out`, for this run to resume
    ({} if none). Refused with ConfigError before any work: an `out` that cannot take results,
    and results of another config (unless `restart`: start over, dropping them)."""
    check_writable_folder(out)
    path = out / "results.json"
    if restart:
        shutil.rmtree(out / PROBABILITIES, ignore_errors=True)
    if restart or not path.exists():
        return {}
    advice = "choose another --out, or pass --restart to replace them"
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        before, now = earlier["config"], json.loads(json.dumps(config))
        changed = sorted(k for k in before.keys() | now.keys()
                         if k not in SAME_RESULTS + UNIT_CHOICES
                         and before.get(k, LATER_OPTIONS.get(k)) != now.get(k))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{path}: unreadable results ({err!r}); {advice}") from err
    if changed:
        raise ConfigError(f"{path} holds the results of another configuration (differing in "
                          f"{', '.join(changed)}); {advice}")
    if "units" not in earlier:
        raise ConfigError(f"{path} records no units (written by an older version), so the "
                          f"run cannot resume; {advice}")
    return earlier


def summary_numbers(rows: list[dict]) -> list[dict]:
    """Mean, std and seed count of the accuracy per (fraction, arm)."""
    return [{"fraction": f, "arm": arm, "mean": float(np.mean(acc)), "std": float(np.std(acc)),
             "seeds": len(acc)} for (f, arm), acc in group_accuracies(rows).items()]


def accuracy_plot(rows: list[dict], corpus: str) -> bytes:
    """PNG: bars (one fraction) or accuracy-vs-fraction lines (a sweep), with seed std."""
    from tl_text.plots import accuracy_by_fraction_png

    return accuracy_by_fraction_png(summary_numbers(rows), corpus)
