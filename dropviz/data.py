"""Datasets for the lab, deterministic from a seed: 1-D regression here, 2-D classification in data2d.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .config import LabConfig
from .data2d import Dataset2D, make_dataset_2d

# The clean target of each dataset; the training points are these plus noise.
TARGETS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "source": lambda x: 1.5 * x,
    "linear": lambda x: 1.5 * x,
    "sine": lambda x: torch.sin(torch.pi * x),
    "step": lambda x: torch.where(x < 0, -1.0, 1.0),
}

SOURCE_TEST_NOISE = 0.3  # the source draws its test points with noise 0.3 at the training x
HELD_OUT_POINTS = 200  # fresh test points for every other dataset
GRID_POINTS = 120  # x values where the prediction curves are drawn (every 0.02: smooth to the eye; evaluated at every snapshot)
TEST_SEED_OFFSET = 1_000_003  # held-out points come from seed + this
GRID_2D = 50  # the 2-D heatmap's points per axis (Dataset2D.grid): 2,500 points evaluated at every frame


@dataclass(frozen=True)
class Dataset:
    """Training points, test points and a dense x grid; all float32 arrays of shape (n, 1)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_grid: np.ndarray
    y_grid: np.ndarray  # the clean target on the grid, for reference

    def tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The arrays as tensors on `device`, keyed by field name."""
        return {k: torch.from_numpy(v).to(device) for k, v in self.__dict__.items()}


def make_dataset(config: LabConfig) -> Dataset | Dataset2D:
    """The data of a run, the same for the same seed: a Dataset, or for the 2-D datasets
    (config.task "classification") Playground's points, `n_points` in all split by `ratio` percent.

    'source' follows the source demo: x = linspace(-1, 1, n), y = 1.5x + N(0, noise²) and test
    points at the same x with noise 0.3. Every other dataset is tested on fresh x drawn uniformly
    from [-1, 1] against the clean target, so the test loss measures distance from the truth.
    """
    if config.task == "classification":
        return make_dataset_2d(config.dataset, config.seed, config.n_points, config.noise, config.ratio / 100)
    gen = torch.Generator().manual_seed(config.seed)
    target = TARGETS[config.dataset]
    x = torch.linspace(-1, 1, config.n_points).unsqueeze(1)
    y = target(x) + config.noise * torch.randn(x.shape, generator=gen)
    if config.dataset == "source":
        x_test = x.clone()
        y_test = target(x_test) + SOURCE_TEST_NOISE * torch.randn(x.shape, generator=gen)
    else:
        # A generator of its own: the test set stays the same when n_points or noise change.
        test_gen = torch.Generator().manual_seed(config.seed + TEST_SEED_OFFSET)
        x_test = torch.rand(HELD_OUT_POINTS, 1, generator=test_gen) * 2 - 1
        y_test = target(x_test)
    x_grid = torch.linspace(-1.2, 1.2, GRID_POINTS).unsqueeze(1)
    arrays = (x, y, x_test, y_test, x_grid, target(x_grid))
    return Dataset(*(a.float().numpy() for a in arrays))


def split_sizes(config: LabConfig) -> tuple[int, int]:
    """(training points, test points) of the config's data, without making it: for 2-D, make_dataset_2d's
    split of n_points at `ratio` percent (at least one point on each side)."""
    if config.task == "classification":
        n_train = min(max(round(config.ratio / 100 * config.n_points), 1), config.n_points - 1)
        return n_train, config.n_points - n_train
    return config.n_points, config.n_points if config.dataset == "source" else HELD_OUT_POINTS
