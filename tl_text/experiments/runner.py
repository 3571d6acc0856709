"""The loop every experiment shares: build each arm's classifier, fit it, score it on the test
documents, time it, and write the results after every unit, so a stopped run keeps what it
finished and its re-run (same config) resumes: units already recorded are not run again.
Ensembles "A+B" average the test probabilities of A and B from the same group and seed, so
they cost no training; every unit's probabilities are saved next to the results
(`probabilities/<arm>-<seed>[-group].npy`), so a resumed run combines members it did not train.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tl_text.atomic import atomic_save_array
from tl_text.classifiers.base import TextClassifier
from tl_text.classifiers.ensemble import combine
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.experiments.report import PROBABILITIES
from tl_text.training import accuracy


@dataclass
class Unit:
    """One arm trained with one seed on one training set; `group` holds the other fields
    that identify it in the results (e.g. {"fraction": 0.05} or {"train": "books"})."""

    arm: str
    seed: int
    train: TextDataset
    group: dict = field(default_factory=dict)

    def key(self, arm: str | None = None) -> tuple:
        """What identifies the unit (or arm `arm` of its group and seed) across runs."""
        return arm or self.arm, self.seed, tuple(self.group.items())


def check_arms(arms: Sequence[str], known: Callable[[str], object]) -> None:
    """Every part of every arm passes `known` (which raises ConfigError otherwise), and an
    ensemble's parts are listed before it."""
    for i, arm in enumerate(arms):
        parts = arm.split("+")
        for part in parts:
            known(part)
        if len(parts) > 1 and not set(parts) <= set(arms[:i]):
            raise ConfigError(f"ensemble {arm!r} needs {' and '.join(parts)} listed before it")


def run_units(units: Sequence[Unit], test: TextDataset,
              make: Callable[[str, int], TextClassifier],
              write: Callable[[list[dict], dict], object],
              log: Callable[[str], None],
              rows_of: Callable[[Unit, np.ndarray, dict], list[dict]] | None = None, *,
              out: Path, earlier: dict) -> list[dict]:
    """Run `units` in order: `make(arm, seed)` an unfitted classifier, fit it on the unit's
    training set, score `test`, save the probabilities in `out`. `rows_of(unit,
    probabilities, info)` turns them into result rows (default: one row with the accuracy);
    `write(rows, extra)` is called after every unit with the rows so far and `extra` for
    results.json: each arm's config ("classifiers") and the units behind the rows ("units").
    Units that `earlier` (`report.earlier_results`) records, with their probabilities saved,
    keep their rows and are not run again."""
    rows_of = rows_of or (lambda unit, probs, info: [
        {**unit.group, "arm": unit.arm, "seed": unit.seed, "train_docs": len(unit.train),
         "test_docs": len(test), "accuracy": accuracy(probs, test.labels), **info}])
    saved = {key: rows for key, rows in _recorded(earlier).items()
             if _probabilities_file(out, key).exists()}
    done = sum(unit.key() in saved for unit in units)
    if done:
        log(f"resuming: {done} of {len(units)} units already done")
    probabilities: dict[tuple, np.ndarray] = {}
    classifiers: dict[str, dict] = dict(earlier.get("classifiers", {}))
    rows: list[dict] = []
    recorded: list[dict] = []
    for unit in units:
        if unit.key() in saved:
            rows.extend(saved[unit.key()])
            recorded.append(_record(unit, len(saved[unit.key()])))
            continue
        log(f"{unit.arm}, {_describe(unit.group)}seed {unit.seed} "
            f"({len(unit.train):,} training documents)")
        started = time.perf_counter()
        parts = unit.arm.split("+")
        if len(parts) > 1:
            members = [unit.key(part) for part in parts]
            probs, info = combine([probabilities[key] if key in probabilities
                                   else _load_probabilities(out, key) for key in members]), {}
        else:
            classifier = make(unit.arm, unit.seed)
            classifier.fit(unit.train)
            probs = classifier.predict_proba(test.texts)
            info = {k: v for k, v in classifier.fit_info_.items() if k != "fit_seconds"}
            classifiers.setdefault(unit.arm, classifier.spec())
        probabilities[unit.key()] = probs
        _save_probabilities(out, unit.key(), probs)
        info["seconds"] = round(time.perf_counter() - started, 1)
        new_rows = rows_of(unit, probs, info)
        rows.extend(new_rows)
        recorded.append(_record(unit, len(new_rows)))
        scores = ", ".join(f"{row.get('test', 'accuracy')} {row['accuracy']:.4f}"
                           for row in new_rows)
        notes = f"; {info['notes']}" if info.get("notes") else ""
        log(f"{unit.arm} seed {unit.seed}: {scores} ({info['seconds']} s{notes})")
        write(rows, {"classifiers": classifiers, "units": recorded})
    return rows


def _record(unit: Unit, rows: int) -> dict:
    return {"arm": unit.arm, "seed": unit.seed, "group": unit.group, "rows": rows}


def _recorded(earlier: dict) -> dict[tuple, list[dict]]:
    """{unit key: its rows} of the units an earlier results.json records, in order."""
    rows = iter(earlier.get("rows", []))
    return {(unit["arm"], unit["seed"], tuple(unit["group"].items())):
            list(itertools.islice(rows, unit["rows"])) for unit in earlier.get("units", [])}


def _probabilities_file(out: Path, key: tuple) -> Path:
    arm, seed, group = key
    name = "-".join([arm, str(seed), *(f"{v:g}" if isinstance(v, float) else str(v)
                                       for _, v in group)])
    return out / PROBABILITIES / (re.sub(r"[^\w.+-]", "_", name) + ".npy")


def _save_probabilities(out: Path, key: tuple, probabilities: np.ndarray) -> None:
    atomic_save_array(_probabilities_file(out, key), probabilities)


def _load_probabilities(out: Path, key: tuple) -> np.ndarray:
    return np.load(_probabilities_file(out, key), allow_pickle=False)


def _describe(group: dict) -> str:
    return "".join(f"{key} {value:g}, " if isinstance(value, float) else f"{key} {value}, "
                   for key, value in group.items())
