"""The network view's numbers: a few units per layer, the weights between them, the units one
training step dropped, and each unit's output over x. Plain numpy out; drawn by net_figure.py.

Dropout trains a different "thinned" network at every step and for every training point
(Srivastava et al. 2014, Fig. 1): the units a mask zeroes are gone, with all their edges, for
that point and that step. The view shows that sub-network for one training point, from the
masks the real step drew, beside the full p = 0 network. Wide layers show a sample of their
units, the same ones at every frame of a run and for both models, so frames compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_UNITS = 10  # units drawn per hidden layer: readable on a phone at depth 6
THUMB_POINTS = 40  # x values of each unit's output thumbnail (every third of the 120-point grid)
THUMB_SIDE = 10  # a 2-D thumbnail's points per side, from the decision grid (every ~5th of 50)
UNITS_SEED_OFFSET = 3_000_017  # the drawn units come from seed + this, never from a training generator
EXAMPLE = 0  # the training point whose thinned network is drawn (each point has its own masks)


@dataclass(frozen=True)
class NetView:
    """The drawn part of the charted models at one moment. M models, `depth` hidden layers, k units each."""

    sizes: list[int]  # full layer sizes, [inputs, H, …, H, 1]: 1 input for 1-D regression, 2 for 2-D
    units: np.ndarray  # (depth, k) the drawn hidden units' indices, sorted
    weights: list[np.ndarray]  # per weight layer l: (M, k_in, k_out) between drawn units (input and output: 1)
    kept: np.ndarray  # (M, depth, k) bool: the drawn units the last training step kept for point EXAMPLE
    kept_share: np.ndarray  # (M, depth) share of ALL the layer's units kept for that point
    x: np.ndarray  # (T,) where the thumbnails are drawn; 2-D: (r,) the thumbnails' axis, for x1 and x2
    outputs: np.ndarray  # (M, depth, k, T) each drawn unit's eval-mode output (after ReLU) over x; 2-D: T = r·r
    prediction: np.ndarray  # (M, T) the output unit's: the model's prediction (2-D: its logit)

    @property
    def plane(self) -> bool:
        """Whether the inputs are 2-D points: thumbnails are r × r images, row i at x2 = x[i]."""
        return self.sizes[0] == 2

    def inputs(self) -> np.ndarray:
        """The input units' own "outputs" over the thumbnails' points, (inputs, T): x, or x1 and x2."""
        if not self.plane:
            return self.x[None]
        x1, x2 = np.meshgrid(self.x, self.x)
        return np.stack([x1.ravel(), x2.ravel()])

    @property
    def depth(self) -> int:
        return len(self.sizes) - 2

    @property
    def n_drawn(self) -> int:
        return self.units.shape[1]


def drawn_units(width: int, depth: int, seed: int, most: int = MAX_UNITS) -> np.ndarray:
    """(depth, k) hidden units to draw, k = min(width, most): all of a narrow layer, else a sample
    chosen once per run from the seed (its own numpy generator: no training numbers move)."""
    if width <= most:
        return np.tile(np.arange(width), (depth, 1))
    rng = np.random.default_rng(seed + UNITS_SEED_OFFSET)
    return np.stack([np.sort(rng.choice(width, most, replace=False)) for _ in range(depth)])


def thumb_index(grid: np.ndarray) -> np.ndarray:
    """Which of the grid's points the thumbnails use. A 1-D grid (G,) of x values: THUMB_POINTS of
    them, evenly spread. A 2-D grid (R·R, 2), row-major with rows along x2 (data2d.Dataset2D.grid):
    a THUMB_SIDE × THUMB_SIDE subgrid, row-major too."""
    if grid.ndim == 1:
        return np.unique(np.linspace(0, len(grid) - 1, THUMB_POINTS).round().astype(int))
    side = int(round(np.sqrt(len(grid))))
    pick = np.linspace(0, side - 1, THUMB_SIDE).round().astype(int)
    return (pick[:, None] * side + pick[None, :]).ravel()


def net_view(units: np.ndarray, sizes: list[int], weights: list[torch.Tensor], hidden: list[torch.Tensor],
             pred: torch.Tensor, masks: torch.Tensor | None, grid: np.ndarray) -> NetView:
    """The view from a snapshot's tensors: `weights` [W0, W1, …] (M, fan_in, fan_out); `hidden` the
    grid forward's unit outputs per layer, (M, G, H); `pred` (M, G, 1); `masks` the last training
    step's (M, depth, N, H) 0/1 keep masks, None before the first step (all kept); `grid` the
    points of the grid forward, (G,) x values or (G, 2) points (see thumb_index).

    Indexed in numpy: on the CPU .numpy() shares the tensor's memory, and a dozen numpy indexings
    cost a fifth of as many torch ones, at every frame."""
    depth, k = units.shape
    n_models = pred.shape[0]
    at = thumb_index(grid)
    # The inputs all drawn (one or two), the output is one unit; the hidden layers their drawn units.
    ends = [np.arange(sizes[0])] + list(units) + [np.zeros(1, int)]
    drawn = [_numpy(w)[:, ends[l][:, None], ends[l + 1][None, :]] for l, w in enumerate(weights)]
    outputs = np.stack([_numpy(h)[:, at[:, None], units[l][None, :]].transpose(0, 2, 1)
                        for l, h in enumerate(hidden)], axis=1)  # (M, depth, k, T)
    if masks is None or masks.numel() == 0:
        kept, share = np.ones((n_models, depth, k), bool), np.ones((n_models, depth))
    else:
        point = _numpy(masks[:, :, EXAMPLE]) > 0  # (M, depth, H)
        kept = np.stack([point[:, l, units[l]] for l in range(depth)], axis=1)
        share = point.mean(axis=2)
    return NetView(sizes=list(sizes), units=units, weights=drawn, kept=kept, kept_share=share,
                   x=grid[at] if grid.ndim == 1 else grid[at[:THUMB_SIDE], 0], outputs=outputs,
                   prediction=_numpy(pred)[:, at, 0])


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
