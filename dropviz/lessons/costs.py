"""What dropout costs: slower convergence, and a variance shift when BatchNorm follows it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import LabConfig
from ..dropout import inverted_dropout
from .sweep import SweepSpec

RESOLUTION = 200  # snapshots per convergence run: iterations-to-loss is measured to epochs / 200


def convergence_spec(base: LabConfig, ps: tuple[float, ...]) -> SweepSpec:
    """The lab's settings, one seed, the given p values, snapshots dense enough to time the crossing."""
    config = base.with_(mc_samples=0, snapshot_every=max(1, base.epochs // RESOLUTION))
    return SweepSpec(config, tuple(ps), (base.seed,))


def iterations_to(history: dict[str, np.ndarray], target: float) -> list[int | None]:
    """Per model, the first recorded iteration whose (eval-mode) train loss is ≤ target; None if never."""
    below = history["train"] <= target  # (K, M); NaN compares False
    return [int(history["iteration"][col.argmax()]) if col.any() else None for col in below.T]


@dataclass
class BNStats:
    """Mean over units of a BatchNorm layer's input and output variance, train mode vs eval mode."""

    p: float
    train_in: float  # variance of BN's input in train mode (dropout on), per batch, averaged over draws
    eval_in: float  # variance of BN's input in eval mode (dropout off)
    running: float  # the running variance BN learned in train mode: what eval mode divides by
    predicted: float  # train_in from eval-mode statistics: (σ² + μ²)/(1 - p) - μ²
    train_out: float  # variance of BN's output in train mode (≈ 1: BN normalises the batch)
    eval_out: float  # variance of BN's output in eval mode (1 only if running ≈ eval_in)


@torch.no_grad()
def bn_variance(p: float, width: int = 64, n: int = 256, draws: int = 40, seed: int = 0) -> BNStats:
    """Linear(1, width) → ReLU → Dropout(p) → BatchNorm1d: BN's input and output variance in both modes.

    Train mode runs `draws` batches with fresh dropout masks (BN's running statistics average
    them, momentum=None); eval mode runs the same batch once with dropout off.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=gen) * 2 - 1  # (n, 1) points in [-1, 1]
    # Linear(1, width) with nn.Linear's init U(-1, 1) for fan_in 1, drawn from our generator.
    weight, bias = (torch.rand(2, width, generator=gen) * 2 - 1).unbind()
    h = torch.relu(x * weight + bias)  # (n, width): what dropout sees
    bn = nn.BatchNorm1d(width, momentum=None)  # momentum=None: running stats are plain averages
    bn.train()
    train_in, train_out = [], []
    for _ in range(draws):
        d = inverted_dropout(h, p, True, generator=gen)
        train_in.append(d.var(0))
        train_out.append(bn(d).var(0))
    bn.eval()
    mu, var = h.mean(0), h.var(0)
    live = var > 1e-8  # units ReLU switched off for every point carry no variance to compare
    eval_out = bn(h).var(0)
    mean = lambda v: float(v[live].mean())
    return BNStats(p=p, train_in=mean(torch.stack(train_in).mean(0)), eval_in=mean(var),
                   running=mean(bn.running_var), predicted=mean((var + mu**2) / (1 - p) - mu**2),
                   train_out=mean(torch.stack(train_out).mean(0)), eval_out=mean(eval_out))


def bn_curve(ps: list[float], **kwargs) -> list[BNStats]:
    """bn_variance for each p (the same net and data for all)."""
    return [bn_variance(p, **kwargs) for p in ps]
