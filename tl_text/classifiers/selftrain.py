"""Self-training: a student learns from the labelled documents plus unlabelled ones that a
teacher labels with confidence (pseudo-labelling); threshold 0.5 keeps every unlabelled
document, which distils the teacher into the student.

    teacher = Ensemble([CNNClassifier(init_from=source, transfer="network"),
                        NBLogisticRegression()])
    clf = SelfTraining(Teacher(teacher), [NBLogisticRegression()], unlabelled=texts,
                       threshold=0.9).fit(train)
    clf.export("saved_models/student")   # the last student's SavedModel

With several students, round r trains students[r] on the labels of round r-1's student.
The export and `load_classifier` give the last student: that is the model to ship.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tl_text.atomic import atomic_save_array
from tl_text.classifiers.base import TextClassifier, load_classifier
from tl_text.data.dataset import TextDataset, concat
from tl_text.errors import ConfigError

STUDENT = "student"


class Teacher:
    """A classifier that labels unlabelled texts for students. Its fit and its labels are
    computed once per training set, so that several students of one run share them; with
    `cache_dir`, the labels are also saved there (keyed by the teacher's spec, the training
    documents and the texts), so that a later run of the same teacher needs no fit at all."""

    def __init__(self, classifier: TextClassifier, cache_dir: str | os.PathLike | None = None):
        self.classifier = classifier
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self._fitted_on: str | None = None
        self._probabilities: dict[str, np.ndarray] = {}

    def fit(self, train: TextDataset) -> TextClassifier:
        key = _digest(train.ids)
        if self._fitted_on != key:
            self.classifier.fit(train)
            self._fitted_on, self._probabilities = key, {}
        return self.classifier

    def label(self, train: TextDataset, texts: Sequence[str]) -> np.ndarray:
        """The probabilities of `texts` from the teacher fitted on `train`."""
        key = _digest([json.dumps(self.classifier.spec(), sort_keys=True),
                       _digest(train.ids), _digest(texts)])
        if key in self._probabilities:
            return self._probabilities[key]
        cached = None if self.cache_dir is None else self.cache_dir / f"{key[:16]}.npy"
        if cached is not None and cached.exists():
            probabilities = np.load(cached, allow_pickle=False)
        else:
            probabilities = self.fit(train).predict_proba(texts)
            if cached is not None:
                atomic_save_array(cached, probabilities)
        self._probabilities[key] = probabilities
        return probabilities


class SelfTraining(TextClassifier):
    """`students` trained in turn on `train` plus the `unlabelled` texts whose label the
    teacher (then the previous student) gives with probability >= `threshold`. Pseudo-labels
    keep the labelled set's class shares: the least confident of an over-represented class
    are dropped. Unlabelled texts that are also training documents are ignored."""

    kind = "self-training"

    def __init__(self, teacher: Teacher | TextClassifier, students: Sequence[TextClassifier],
                 unlabelled: Sequence[str], threshold: float = 0.9):
        if not students:
            raise ConfigError("self-training needs at least one student")
        if not 0.5 <= threshold < 1:
            raise ConfigError(f"threshold must be in [0.5, 1), got {threshold}")
        self.teacher = teacher if isinstance(teacher, Teacher) else Teacher(teacher)
        self.students, self.unlabelled = list(students), list(unlabelled)
        self.threshold = threshold
        if not self.unlabelled:
            raise ConfigError("self-training needs unlabelled texts")

    def get_config(self) -> dict[str, Any]:
        return {"teacher": self.teacher.classifier.spec(),
                "students": [s.spec() for s in self.students],
                "unlabelled": {"documents": len(self.unlabelled),
                               "fingerprint": _digest(self.unlabelled)[:12]},
                "threshold": self.threshold}

    def _fit(self, train: TextDataset, valid: TextDataset | None) -> dict:
        labelled = set(train.texts)
        pool = [text for text in dict.fromkeys(self.unlabelled) if text not in labelled]
        probabilities = self.teacher.label(train, pool)
        rounds = []
        for student in self.students:
            chosen = select(probabilities, self.threshold, np.bincount(train.labels))
            pseudo = TextDataset("pseudo-labelled", [f"unlabelled/{i}" for i in chosen],
                                 [pool[i] for i in chosen], probabilities[chosen].argmax(1),
                                 train.label_names)
            student.fit(concat(f"{train.name}+pseudo", [train, pseudo]), valid)
            rounds.append(len(chosen))
            if student is not self.students[-1]:
                probabilities = student.predict_proba(pool)
        self.student_ = self.students[-1]
        return {"pseudo_labelled": rounds, "unlabelled": len(pool),
                "notes": f"{'/'.join(f'{n:,}' for n in rounds)} of {len(pool):,} unlabelled "
                         f"pseudo-labelled"}

    def predict_proba(self, texts, batch_size: int = 256) -> np.ndarray:
        self._check_fitted()
        return self.student_.predict_proba(texts, batch_size)

    def scorer(self):
        self._check_fitted()
        return self.student_.scorer()

    def _write_state(self, folder: Path) -> None:
        self.student_.save(folder / STUDENT)

    @classmethod
    def _from_state(cls, folder: Path, metadata: dict[str, Any]) -> TextClassifier:
        return load_classifier(folder / STUDENT)  # the student is what was shipped


def select(probabilities: np.ndarray, threshold: float, class_counts: np.ndarray) -> np.ndarray:
    """Indices of rows whose top probability is >= threshold, in proportion to
    `class_counts`: an over-represented class keeps only its most confident rows."""
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    confident = [np.flatnonzero((predicted == c) & (confidence >= threshold))
                 for c in range(probabilities.shape[1])]
    shares = class_counts / class_counts.sum()
    total = min((len(idx) / share for idx, share in zip(confident, shares) if share > 0),
                default=0)
    chosen = []
    for idx, share in zip(confident, shares):
        keep = int(round(total * share))
        chosen.append(idx[np.argsort(-confidence[idx], kind="stable")[:keep]])
    return np.sort(np.concatenate(chosen))


def _digest(strings: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(strings).encode()).hexdigest()
