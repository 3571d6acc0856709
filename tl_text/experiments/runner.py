"""The loop every experiment shares: build each arm's classifier, fit it, score it on the test
documents, time it, and write the results after every unit, so a stopped run keeps what it
finished. Ensembles "A+B" average the test probabilities of A and B from the same group and
seed, so they cost no training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from tl_text.classifiers.base import TextClassifier
from tl_text.classifiers.ensemble import combine
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError
from tl_text.training import accuracy


@dataclass
class Unit:
    """One arm trained with one seed on one training set; `group` holds the other fields
    that identify it in the results (e.g. {"fraction": 0.05} or {"train": "books"})."""

    arm: str
    seed: int
    train: TextDataset
    group: dict = field(default_factory=dict)


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
              rows_of: Callable[[Unit, np.ndarray, dict], list[dict]] | None = None
              ) -> list[dict]:
    """Run `units` in order: `make(arm, seed)` an unfitted classifier, fit it on the unit's
    training set, score `test`. `rows_of(unit, probabilities, info)` turns a unit's test
    probabilities into result rows (default: one row with its accuracy); `write(rows,
    classifiers)` is called after every unit with the rows so far and each arm's config."""
    rows_of = rows_of or (lambda unit, probs, info: [
        {**unit.group, "arm": unit.arm, "seed": unit.seed, "train_docs": len(unit.train),
         "test_docs": len(test), "accuracy": accuracy(probs, test.labels), **info}])
    probabilities: dict[tuple, np.ndarray] = {}
    classifiers: dict[str, dict] = {}
    rows: list[dict] = []
    for unit in units:
        where = (tuple(unit.group.items()), unit.seed)
        log(f"{unit.arm}, {_describe(unit.group)}seed {unit.seed} "
            f"({len(unit.train):,} training documents)")
        started = time.perf_counter()
        parts = unit.arm.split("+")
        if len(parts) > 1:
            probs, info = combine([probabilities[(*where, part)] for part in parts]), {}
        else:
            classifier = make(unit.arm, unit.seed)
            classifier.fit(unit.train)
            probs = classifier.predict_proba(test.texts)
            info = {k: v for k, v in classifier.fit_info_.items() if k != "fit_seconds"}
            if unit.arm not in classifiers:
                classifiers[unit.arm] = classifier.spec()
        probabilities[(*where, unit.arm)] = probs
        info["seconds"] = round(time.perf_counter() - started, 1)
        new_rows = rows_of(unit, probs, info)
        rows.extend(new_rows)
        scores = ", ".join(f"{row.get('test', 'accuracy')} {row['accuracy']:.4f}"
                           for row in new_rows)
        notes = f"; {info['notes']}" if info.get("notes") else ""
        log(f"{unit.arm} seed {unit.seed}: {scores} ({info['seconds']} s{notes})")
        write(rows, classifiers)
    return rows


def _describe(group: dict) -> str:
    return "".join(f"{key} {value:g}, " if isinstance(value, float) else f"{key} {value}, "
                   for key, value in group.items())
