"""2-D classification datasets, TensorFlow Playground's, deterministic from a seed.

Playground (dataset.ts) draws its points on [-6, 6]² (a radius or half-width of 5, plus noise);
here every coordinate is divided by 6 (`PLAYGROUND_SCALE`), so the points lie in about [-1, 1]²
and the decision-boundary grid spans [-1.2, 1.2]². Labels are 0/1 (Playground's -1 becomes 0).
`noise` is Playground's slider, 0 to 0.5, with Playground's meaning for each dataset:

- circle   points inside radius 2.5 (label 1) or in the ring 3.5–5 (label 0); the label is that of
           the point moved by uniform noise of up to ±5·noise in each coordinate: near the
           boundary noise flips labels, the points themselves stay where they are.
- xor      x, y uniform in ±[0.3, 5.3]; label 1 when x·y ≥ 0, read at the point moved by noise as
           for the circle.
- gaussian two Gaussian blobs at (2, 2) (label 1) and (-2, -2) (label 0), variance 0.5 at noise 0
           rising linearly to 4 at noise 0.5.
- spiral   two interleaved spirals (1.75 turns, radius 0 to 5); each point moved by uniform noise
           of up to ±noise.
- moons    "two moons" (Playground has none; scikit-learn's make_moons): two half circles of
           radius 1, at random angles, moved by Gaussian noise of standard deviation `noise`,
           then centred and scaled into [-1, 1] like the others.

Every draw comes from one numpy Generator seeded with the seed, in a fixed order (positions,
then the noise draws, then the shuffle), and the noise draws are taken whatever `noise` is: the
same seed at another noise moves the same points further, and the same seed at another `ratio`
splits the same shuffled points elsewhere. Pure numpy: no torch, no plotting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

DATASETS_2D = ("circle", "xor", "gaussian", "spiral", "moons")
PLAYGROUND_SCALE = 6.0  # Playground's points lie in [-6, 6]²: divided by this they lie in about [-1, 1]²
GRID_EXTENT = 1.2  # the heatmap grid spans [-GRID_EXTENT, GRID_EXTENT]² (Playground's [-6, 6] shows a margin too)
DEFAULT_POINTS, DEFAULT_NOISE, DEFAULT_RATIO = 500, 0.0, 0.5  # Playground's defaults (its ratio is 50 %)
MAX_NOISE = 0.5


@dataclass(frozen=True)
class Dataset2D:
    """Training and test points: x (n, 2) float32 in about [-1, 1]², y (n, 1) float32 labels 0/1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @staticmethod
    def grid(resolution: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points where a decision-boundary heatmap is evaluated: (points (G, 2), xs, ys), G = resolution².

        Row-major, rows along y: points[i * resolution + j] = (xs[j], ys[i]), so predictions
        reshaped to (resolution, resolution) are a heatmap's z with z[i][j] at (xs[j], ys[i]).
        """
        axis = np.linspace(-GRID_EXTENT, GRID_EXTENT, resolution, dtype=np.float32)
        gx, gy = np.meshgrid(axis, axis)  # gx[i, j] = axis[j], gy[i, j] = axis[i]
        return np.stack([gx.ravel(), gy.ravel()], axis=1), axis.copy(), axis.copy()


def make_dataset_2d(name: str, seed: int, n_points: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE,
                    ratio: float = DEFAULT_RATIO) -> Dataset2D:
    """`n_points` points of dataset `name`, shuffled, the first round(ratio · n_points) for training.

    At least one point goes to each side; Playground's own slider keeps ratio within 10–90 %.
    """
    if name not in DATASETS_2D:
        raise ValueError(f"unknown 2-D dataset {name!r}: one of {', '.join(DATASETS_2D)}")
    if not 0 <= noise <= MAX_NOISE:
        raise ValueError(f"noise={noise}: must be within 0 and {MAX_NOISE} (Playground's range)")
    if not 0 < ratio < 1 or n_points < 2:
        raise ValueError(f"ratio={ratio}, n_points={n_points}: need 0 < ratio < 1 and at least 2 points")
    rng = np.random.default_rng(seed)
    x, y = _GENERATORS[name](rng, n_points, noise)
    order = rng.permutation(n_points)  # Playground shuffles before it splits
    x, y = (x[order] / PLAYGROUND_SCALE).astype(np.float32), y[order].astype(np.float32).reshape(-1, 1)
    n_train = min(max(round(ratio * n_points), 1), n_points - 1)
    return Dataset2D(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


# --- the datasets, in Playground's units ([-6, 6]², labels 0/1) ---------------------------------------------------------

def _halves(n: int) -> tuple[int, int]:
    """Points of label 1 and of label 0: half each (the first gets the odd one)."""
    return n - n // 2, n // 2


def _circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    radius = 5.0
    n_in, n_out = _halves(n)
    r = np.concatenate([rng.uniform(0, radius * 0.5, n_in), rng.uniform(radius * 0.7, radius, n_out)])
    angle = rng.uniform(0, 2 * np.pi, n)
    points = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    shifted = points + rng.uniform(-radius, radius, (n, 2)) * noise  # only the label sees the noise
    return points, (np.linalg.norm(shifted, axis=1) < radius * 0.5)


def _xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    padding = 0.3  # keeps points off the axes, where the label changes
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, padding, -padding)
    shifted = points + rng.uniform(-5, 5, (n, 2)) * noise  # only the label sees the noise
    return points, (shifted[:, 0] * shifted[:, 1] >= 0)


def _gaussian(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n_pos, n_neg = _halves(n)
    centres = np.concatenate([np.full((n_pos, 2), 2.0), np.full((n_neg, 2), -2.0)])
    variance = 0.5 + (4 - 0.5) * noise / MAX_NOISE  # Playground's scale: noise 0 → 0.5, noise 0.5 → 4
    points = centres + np.sqrt(variance) * rng.standard_normal((n, 2))
    return points, np.arange(n) < n_pos


def _spiral(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n_pos, n_neg = _halves(n)
    arms = []
    for count, delta in ((n_pos, 0.0), (n_neg, np.pi)):
        i = np.arange(count) / count
        r, t = i * 5, 1.75 * i * 2 * np.pi + delta
        arms.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
    points = np.concatenate(arms) + rng.uniform(-1, 1, (n, 2)) * noise
    return points, np.arange(n) < n_pos


def _moons(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    n_upper, n_lower = _halves(n)
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t[:n_upper]), np.sin(t[:n_upper])], axis=1)  # label 1
    lower = np.stack([1 - np.cos(t[n_upper:]), 0.5 - np.sin(t[n_upper:])], axis=1)  # label 0
    points = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    # The moons span x ∈ [-1, 2], y ∈ [-0.5, 1]: centred, and × 5.5 into Playground's units (|x| ≤ 5.5/6 here).
    points = (points - [0.5, 0.25]) * (5.5 / 1.5)
    return points, np.arange(n) < n_upper


_GENERATORS: dict[str, Callable[[np.random.Generator, int, float], tuple[np.ndarray, np.ndarray]]] = {
    "circle": _circle, "xor": _xor, "gaussian": _gaussian, "spiral": _spiral, "moons": _moons,
}
