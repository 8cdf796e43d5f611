"""Loss and weight-norm history whose memory stays bounded however long the run."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 512  # rows kept; charts need no more


class History:
    """Rows of (iteration, train loss per model, test loss per model, weight norms), and of the
    `extra` per-model columns named at construction (a classification run's "train_acc", "test_acc").

    When full, every other row is dropped and only every second later row is kept: the history
    always spans the whole run at an even spacing, and it always ends with the newest row offered,
    kept or not (the chart's line reaches the current iteration): at most MAX_POINTS rows in all.

    Rows live in preallocated arrays and `arrays()` returns views of the kept rows (with the
    newest appended, a copy, when the thinning left it out). Rows are only ever appended after
    the views' end, and thinning writes into new arrays, so a history handed out never changes.
    """

    def __init__(self, max_points: int = MAX_POINTS, extra: tuple[str, ...] = ()):
        self.max_points = max_points
        self.extra = extra  # names of further (M,) columns, given to every `add`
        self.stride = 1  # keep one offered row in `stride`
        self._offered = 0
        self._rows = 0
        self._columns: dict[str, np.ndarray] | None = None  # allocated with the first row's shapes
        self._newest: dict | None = None  # the newest row offered, when thinning left it out

    def add(self, iteration: int, train: np.ndarray, test: np.ndarray, weight_norm: np.ndarray,
            **extra: np.ndarray) -> None:
        if set(extra) != set(self.extra):
            raise ValueError(f"history columns {sorted(extra)}: this history keeps {sorted(self.extra)}")
        self._offered += 1
        row = {"iteration": iteration, "train": train, "test": test, "weight_norm": weight_norm, **extra}
        self._newest = row
        if (self._offered - 1) % self.stride:
            return
        self._newest = None
        if self._columns is None:
            self._columns = {k: np.empty((self.max_points + 1, *np.shape(v)), np.asarray(v).dtype) for k, v in row.items()}
        for key, value in row.items():
            self._columns[key][self._rows] = value
        self._rows += 1
        if self._rows >= self.max_points:  # one place left for a newest row the thinning skips
            self._thin()
            if self._columns["iteration"][self._rows - 1] != iteration:  # thinned away: keep it aside
                self._newest = row

    def _thin(self) -> None:
        """Keep every other row, in new arrays (views already handed out keep the old ones)."""
        kept = {k: col[:self._rows:2] for k, col in self._columns.items()}
        self._columns = {k: np.empty_like(col) for k, col in self._columns.items()}
        for key, rows in kept.items():
            self._columns[key][:len(rows)] = rows
        self._rows = len(kept["iteration"])
        self.stride *= 2

    def __len__(self) -> int:
        return self._rows

    def arrays(self) -> dict[str, np.ndarray]:
        """iteration (K,), train (K, M), test (K, M), weight_norm (K, layers, M), and each extra column (K, M)."""
        if self._columns is None:
            return {"iteration": np.zeros(0, int), "train": np.zeros((0, 0)), "test": np.zeros((0, 0)),
                    "weight_norm": np.zeros((0, 0, 0)), **{k: np.zeros((0, 0)) for k in self.extra}}
        kept = {k: col[:self._rows] for k, col in self._columns.items()}
        if self._newest is None:
            return kept
        return {k: np.concatenate([kept[k], np.asarray(self._newest[k])[None]]) for k in kept}
