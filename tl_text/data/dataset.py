"""`TextDataset`: labelled documents in memory, with stratified sampling and splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from tl_text.errors import ConfigError


@dataclass(frozen=True)
class Example:
    """One labelled document as a reader yields it (label is an index into label_names)."""

    id: str
    text: str
    label: int
    extra: dict = field(default_factory=dict)


@dataclass
class TextDataset:
    """Parallel lists of ids, texts and integer labels, plus per-example extras.

    `extra` maps a field name (e.g. "rating", "domain") to one value per example; `info`
    notes how the whole set was made (e.g. duplicates removed), and is not kept by `subset`.
    """

    name: str
    ids: list[str]
    texts: list[str]
    labels: np.ndarray
    label_names: tuple[str, ...]
    extra: dict[str, list] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.texts)
        sizes = {"ids": len(self.ids), "labels": len(self.labels)}
        sizes.update({f"extra[{k}]": len(v) for k, v in self.extra.items()})
        wrong = {k: v for k, v in sizes.items() if v != n}
        if wrong:
            raise ValueError(f"{self.name}: {n} texts but {wrong}")

    @classmethod
    def from_examples(cls, name: str, examples: Iterable[Example],
                      label_names: Sequence[str]) -> "TextDataset":
        ids, texts, labels, extra = [], [], [], {}
        for i, ex in enumerate(examples):
            ids.append(ex.id)
            texts.append(ex.text)
            labels.append(ex.label)
            for key, value in ex.extra.items():
                extra.setdefault(key, [None] * i).append(value)
            for key in extra.keys() - ex.extra.keys():
                extra[key].append(None)
        return cls(name, ids, texts, np.asarray(labels, dtype=np.int64),
                   tuple(label_names), extra)

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}={c}" for n, c in self.class_counts().items())
        return f"TextDataset({self.name!r}, {len(self)} docs: {counts})"

    def class_counts(self) -> dict[str, int]:
        labelled = self.labels[self.labels >= 0]  # unlabelled documents carry -1
        counts = np.bincount(labelled, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts)}

    def subset(self, indices, name: str | None = None) -> "TextDataset":
        idx = np.asarray(indices, dtype=np.int64)
        return TextDataset(
            name or self.name,
            [self.ids[i] for i in idx],
            [self.texts[i] for i in idx],
            self.labels[idx],
            self.label_names,
            {k: [v[i] for i in idx] for k, v in self.extra.items()},
        )

    def fraction(self, fraction: float, seed: int = 0) -> "TextDataset":
        """Deterministic stratified sample: round(fraction * class size) of every class.

        For the same data and seed the same ids come back, whatever order the data was read in.
        """
        if not 0 < fraction <= 1:
            raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
        if fraction == 1:
            return self
        chosen = [idx[:round(fraction * len(idx))]
                  for idx in self._shuffled_class_indices(seed)]
        return self.subset(np.sort(np.concatenate(chosen)),
                           name=f"{self.name}[{fraction:g}]")

    def split(self, validation: float = 0.1, seed: int = 0) -> tuple["TextDataset", "TextDataset"]:
        """Stratified (train, validation) split; validation holds round(validation * class size)."""
        if not 0 < validation < 1:
            raise ConfigError(f"validation must be in (0, 1), got {validation}")
        train, valid = [], []
        for idx in self._shuffled_class_indices(seed):
            cut = round(validation * len(idx))
            valid.append(idx[:cut])
            train.append(idx[cut:])
        return (self.subset(np.sort(np.concatenate(train)), name=f"{self.name}/train"),
                self.subset(np.sort(np.concatenate(valid)), name=f"{self.name}/valid"))

    def _shuffled_class_indices(self, seed: int) -> list[np.ndarray]:
        """Per class, indices ordered by id then shuffled by `seed` (read-order independent)."""
        order = np.array(sorted(range(len(self)), key=lambda i: self.ids[i]), dtype=np.int64)
        rng = np.random.default_rng(seed)
        out = []
        for label in range(len(self.label_names)):
            idx = order[self.labels[order] == label]
            out.append(idx[rng.permutation(len(idx))])
        return out

    def shuffled(self, seed: int = 0) -> "TextDataset":
        return self.subset(np.random.default_rng(seed).permutation(len(self)))


def concat(name: str, datasets: Sequence[TextDataset]) -> TextDataset:
    """Join datasets that share label names; extras missing from one side become None."""
    label_names = datasets[0].label_names
    for ds in datasets[1:]:
        if ds.label_names != label_names:
            raise ConfigError(f"cannot join {ds.name} {ds.label_names} with {label_names}")
    keys = sorted({k for ds in datasets for k in ds.extra})
    return TextDataset(
        name,
        [i for ds in datasets for i in ds.ids],
        [t for ds in datasets for t in ds.texts],
        np.concatenate([ds.labels for ds in datasets]),
        label_names,
        {k: [v for ds in datasets for v in ds.extra.get(k, [None] * len(ds))] for k in keys},
    )
