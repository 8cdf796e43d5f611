"""Datasets for the lab: 1-D regression, deterministic from a seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .config import LabConfig

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


def make_dataset(config: LabConfig) -> Dataset:
    """The data of a run, the same for the same seed.

    'source' follows the source demo: x = linspace(-1, 1, n), y = 1.5x + N(0, noise²) and test
    points at the same x with noise 0.3. Every other dataset is tested on fresh x drawn uniformly
    from [-1, 1] against the clean target, so the test loss measures distance from the truth.
    """
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
