"""Loss and weight-norm history whose memory stays bounded however long the run."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 512  # rows kept; charts need no more


class History:
    """Rows of (iteration, train loss per model, test loss per model, weight norms).

    When full, every other row is dropped and only every second later row is kept: the history
    always spans the whole run at an even spacing, with at most MAX_POINTS rows.
    """

    def __init__(self, max_points: int = MAX_POINTS):
        self.max_points = max_points
        self.stride = 1  # keep one offered row in `stride`
        self._offered = 0
        self._rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, iteration: int, train: np.ndarray, test: np.ndarray, weight_norm: np.ndarray) -> None:
        self._offered += 1
        if (self._offered - 1) % self.stride:
            return
        self._rows.append((iteration, train, test, weight_norm))
        if len(self._rows) > self.max_points:
            self._rows = self._rows[::2]
            self.stride *= 2

    def __len__(self) -> int:
        return len(self._rows)

    def arrays(self) -> dict[str, np.ndarray]:
        """iteration (K,), train (K, M), test (K, M), weight_norm (K, layers, M)."""
        if not self._rows:
            return {"iteration": np.zeros(0, int), "train": np.zeros((0, 0)), "test": np.zeros((0, 0)),
                    "weight_norm": np.zeros((0, 0, 0))}
        its, train, test, norms = zip(*self._rows)
        return {"iteration": np.asarray(its), "train": np.stack(train), "test": np.stack(test),
                "weight_norm": np.stack(norms)}
