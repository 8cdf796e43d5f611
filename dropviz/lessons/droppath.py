"""Dropout vs DropPath on a small residual block y = x + f(x), f an MLP branch.

Dropout on the branch zeroes single entries of f(x) (a units × samples pattern); DropPath
(stochastic depth) zeroes the WHOLE branch of a sample, so that sample's y is just x. Both keep
each entry with probability 1 − p and scale survivors by 1/(1 − p), so the mean drop rate is p
for both; DropPath's rate in one batch is far noisier (32 draws instead of 32 × 64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..dropout import drop_path, inverted_dropout

SAMPLES, FEATURES = 32, 64  # one batch: 32 samples × 64 features
REPEATS = 400  # batches drawn to measure the drop rates' spread


def branch(features: int = FEATURES, seed: int = 0) -> nn.Sequential:
    """f: Linear → ReLU → Linear, the MLP branch of a residual block, initialised from `seed`."""
    gen = torch.Generator().manual_seed(seed)
    return nn.Sequential(_linear(features, features, gen), nn.ReLU(), _linear(features, features, gen))


def _linear(fan_in: int, fan_out: int, generator: torch.Generator) -> nn.Linear:
    """nn.Linear(fan_in, fan_out) with nn.Linear's own init, drawn from `generator`.

    nn.Linear draws its init from torch's global generator, which every thread of the server
    shares; skip_init builds it without drawing, and the same two draws as its
    reset_parameters (weight, then bias: U(±1/√fan_in) both) come from our generator instead.
    """
    linear = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out)
    with torch.no_grad():
        nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
    return linear


@dataclass(frozen=True)
class BlockResult:
    """One batch through the block both ways, and drop rates over many batches."""

    p: float
    x: np.ndarray  # (samples, features) the block's input
    fx: np.ndarray  # (samples, features) the branch f(x) without any dropping
    dropout_out: np.ndarray  # (samples, features) x + dropout(f(x))
    droppath_out: np.ndarray  # (samples, features) x + drop_path(f(x))
    dropout_keep: np.ndarray  # (samples, features) 1 where dropout kept f(x)'s entry
    droppath_keep: np.ndarray  # (samples, features) 1 where DropPath kept it: whole rows
    dropout_rates: np.ndarray  # (REPEATS,) share of entries dropped in each batch
    droppath_rates: np.ndarray  # (REPEATS,) share of samples whose branch was dropped, per batch

    @property
    def dropout_rate(self) -> float:
        return float(1 - self.dropout_keep.mean())

    @property
    def droppath_rate(self) -> float:
        return float(1 - self.droppath_keep.mean())

    @property
    def identity_rows(self) -> int:
        """Samples whose output is exactly their input: the dropped branches."""
        return int(np.all(self.droppath_out == self.x, axis=1).sum())



def partial_rows(keep: np.ndarray) -> int:
    """Rows (samples) of a keep mask that are partly kept and partly dropped: 0 for DropPath."""
    return int((keep.min(1) != keep.max(1)).sum())


def rate_std(p: float, draws: int) -> float:
    """Binomial std of a drop rate measured over `draws` independent Bernoulli(p) draws."""
    return math.sqrt(p * (1 - p) / draws)


@torch.no_grad()
def run(p: float, seed: int = 0, samples: int = SAMPLES, features: int = FEATURES,
        repeats: int = REPEATS) -> BlockResult:
    """One batch through x + dropout(f(x)) and x + drop_path(f(x)), masks from `seed`; rates over `repeats` batches."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, features, generator=gen)
    fx = branch(features, seed)(x)
    # Masks read back from the outputs: f(x) is never exactly 0 after the last Linear (a.s.).
    fx_dropout = inverted_dropout(fx, p, True, generator=gen)
    fx_droppath = drop_path(fx, p, True, generator=gen)
    # `repeats` more batches: drop_path draws one value per row, so stack the batches' samples as rows.
    ones = torch.ones(repeats * samples, features)
    rates_dropout = (inverted_dropout(ones, p, True, generator=gen) == 0).float().view(repeats, -1).mean(1)
    rates_droppath = (drop_path(ones, p, True, generator=gen)[:, 0] == 0).float().view(repeats, samples).mean(1)
    return BlockResult(p, x.numpy(), fx.numpy(), (x + fx_dropout).numpy(), (x + fx_droppath).numpy(),
                       (fx_dropout != 0).float().numpy(), (fx_droppath != 0).float().numpy(),
                       rates_dropout.numpy(), rates_droppath.numpy())
