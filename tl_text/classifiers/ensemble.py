"""The weighted mean of several classifiers' probabilities, exported as one SavedModel.

    Ensemble([CNNClassifier(init_from=source), NBLogisticRegression()]).fit(train)
    Ensemble(fitted_members, weights=[2, 1], prefit=True)   # combine, train nothing

The export runs every member's scorer on the same raw strings and averages in the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.data.dataset import TextDataset
from tl_text.errors import ConfigError

MEMBERS = "members"


class Ensemble(TextClassifier):
    """`members` (TextClassifiers sharing label names) averaged with `weights` (default
    equal; normalised to sum to 1). `prefit=True`: the members are fitted already."""

    kind = "ensemble"

    def __init__(self, members: Sequence[TextClassifier], weights: Sequence[float] | None = None,
                 prefit: bool = False):
        if len(members) < 2:
            raise ConfigError("an ensemble needs at least two members")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(f"need one non-negative weight per member ({len(members)}), "
                              f"not summing to 0; got {weights}")
        self.members, self.weights, self.prefit = list(members), weights, prefit
        if prefit:
            self._adopt_labels()

    def get_config(self) -> dict[str, Any]:
        return {"members": [m.spec() for m in self.members],
                "weights": self.weights, "prefit": self.prefit}

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        if not self.prefit:
            for member in self.members:
                member.fit(train, valid)
        self._adopt_labels()
        return {"notes": " + ".join(type(m).__name__ for m in self.members)}

    def _adopt_labels(self) -> None:
        names = {tuple(getattr(m, "label_names_", ())) for m in self.members}
        if len(names) != 1 or () in names:
            raise ConfigError(f"ensemble members must be fitted on the same labels; got "
                              f"{sorted(names)}")
        self.label_names_ = names.pop()
        self.fit_info_ = getattr(self, "fit_info_", {})

    @property
    def normalized_weights(self) -> np.ndarray:
        weights = np.asarray(self.weights, np.float32)
        return weights / weights.sum()

    def predict_proba(self, texts, batch_size: int = 256) -> np.ndarray:
        self._check_fitted()
        texts = list(texts)
        return combine([m.predict_proba(texts) for m in self.members], self.normalized_weights)

    def scorer(self):
        self._check_fitted()
        return _MeanScorer([m.scorer() for m in self.members], self.normalized_weights)

    def _write_state(self, folder: Path) -> None:
        for i, member in enumerate(self.members):
            member.save(folder / MEMBERS / str(i))

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> "Ensemble":
        config = metadata["classifier"]["config"]
        members = [load_classifier(folder / MEMBERS / str(i))
                   for i in range(len(config["members"]))]
        return cls(members, config["weights"], prefit=True)


def combine(probabilities: Sequence[np.ndarray], weights: Sequence[float] | None = None):
    """The weighted mean of members' probability arrays (equal weights by default)."""
    return np.average(np.stack(probabilities), axis=0, weights=weights).astype(np.float32)


class _MeanScorer(tf.Module):
    def __init__(self, scorers, weights: np.ndarray):
        super().__init__(name="ensemble_scorer")
        self.scorers = scorers
        self.weights = tf.constant(weights, tf.float32)

    def __call__(self, text):
        stacked = tf.stack([tf.cast(s(text), tf.float32) for s in self.scorers])
        return tf.tensordot(self.weights, stacked, axes=1)
