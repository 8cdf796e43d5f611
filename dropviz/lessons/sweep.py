"""p is a hyperparameter: train a grid of p values for several seeds at once and summarise per p."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..config import LabConfig
from ..control import Control
from ..budget import BUDGET_GFLOP, run_cost
from ..train import Snapshot, sweep

FRAMES = 30  # snapshots per sweep: enough for a live chart, few enough to cost nothing
TIE = 0.02  # relative gap in median test loss under which two p values count as equal

# Settings to contrast, layered over the lab's current ones: where dropout helps and where it hurts.
SETTINGS: dict[str, dict] = {
    "lab": {},  # the lab's settings as they are
    "noisy": dict(dataset="linear", noise=1.0),  # twice the noise: p = 0 chases it
    "more_points": dict(dataset="linear", n_points=20),  # more data, same noise
    "narrow": dict(width=8),  # too few units to spare any
    "short": dict(epochs=50),  # too few iterations: dropout slows learning
}


def p_grid(p_max: float, step: float) -> tuple[float, ...]:
    """0, step, 2·step, … up to p_max (and below 1), rounded to 2 decimals."""
    count = int(np.floor(min(p_max, 0.99) / step + 1e-9)) + 1
    return tuple(sorted({round(min(i * step, 0.99), 2) for i in range(count)}))


def setting_config(base: LabConfig, setting: str) -> LabConfig:
    """The lab config `base` with a contrast setting layered over it; snapshots spaced for a sweep."""
    config = base.with_(**SETTINGS[setting])
    return config.with_(snapshot_every=max(1, config.epochs // FRAMES), mc_samples=0)


@dataclass(frozen=True)
class SweepSpec:
    """A runner key: every (p, seed) pair of the grid trained at once by train.sweep."""

    config: LabConfig
    ps: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def n_models(self) -> int:
        return len(self.ps) * len(self.seeds)

    def snapshots(self, control: Control) -> Iterator[Snapshot]:
        """The sweep's snapshots; flat out, since the page wants the result, not slow motion."""
        control.frame_interval = 0.0
        return sweep(self.config, list(self.ps), list(self.seeds), control, detail=False)


def seeds_from(first: int, count: int) -> tuple[int, ...]:
    """`count` consecutive seeds starting at the lab's seed."""
    return tuple(first + i for i in range(count))


def sweep_cost_gflop(spec: SweepSpec) -> float:
    """FLOPs of the whole sweep, its training and its snapshots."""
    return run_cost(spec.config, models=spec.n_models).gflop


def over_budget(spec: SweepSpec, budget: float = BUDGET_GFLOP) -> float:
    """0 when the sweep fits the per-run budget, else its cost in GFLOP."""
    cost = sweep_cost_gflop(spec)
    return 0.0 if cost <= budget else cost


@dataclass
class Summary:
    """Per p: median, min and max over seeds of the train and test loss; the best p."""

    ps: np.ndarray  # (P,)
    train: np.ndarray  # (P, S)
    test: np.ndarray  # (P, S)
    train_med: np.ndarray  # (P,)
    test_med: np.ndarray
    test_lo: np.ndarray
    test_hi: np.ndarray
    train_lo: np.ndarray
    train_hi: np.ndarray
    best: int  # index of the p with the lowest median test loss
    diverged: int  # models whose loss is NaN or infinite


def summarise(snap: Snapshot, n_seeds: int) -> Summary:
    """Group a sweep snapshot (p-major model order) by p and reduce over seeds."""
    train = snap.train_loss.astype(float).reshape(-1, n_seeds)
    test = snap.test_loss.astype(float).reshape(-1, n_seeds)
    bad = ~(np.isfinite(train) & np.isfinite(test))
    train, test = np.where(bad, np.nan, train), np.where(bad, np.nan, test)
    with warnings.catch_warnings():  # a p whose seeds all diverged is a gap on the chart, not an error
        warnings.simplefilter("ignore", RuntimeWarning)
        train_med, test_med = np.nanmedian(train, 1), np.nanmedian(test, 1)
        train_lo, train_hi = np.nanmin(train, 1), np.nanmax(train, 1)
        test_lo, test_hi = np.nanmin(test, 1), np.nanmax(test, 1)
    best = int(np.nanargmin(test_med)) if np.isfinite(test_med).any() else 0
    return Summary(snap.ps[::n_seeds].astype(float), train, test, train_med, test_med, test_lo, test_hi,
                   train_lo, train_hi, best, int(bad.sum()))


def verdict(s: Summary) -> dict:
    """What the numbers say, as plain data for the page's text.

    kind: 'helps' (a p > 0 beats p = 0 by more than TIE), 'tie', or 'hurts' (p = 0 is best);
    clear: the best p's worst seed beats p = 0's best seed (the ranges do not overlap);
    hurts_from: the smallest p above the best whose median test loss is worse than p = 0's (or None);
    worst: index of the highest median test loss; last: index of the largest p with a finite result.
    """
    base, best = s.test_med[0], s.test_med[s.best]
    gap = (base - best) / base if base > 0 else 0.0
    kind = "hurts" if s.best == 0 else ("helps" if gap > TIE else "tie")
    clear = bool(s.best != 0 and s.test_hi[s.best] < s.test_lo[0])
    finite = np.flatnonzero(np.isfinite(s.test_med) & np.isfinite(s.train_med))
    worse = [i for i in finite if i > s.best and s.test_med[i] > base]
    worst = int(finite[np.argmax(s.test_med[finite])]) if len(finite) else 0
    return dict(kind=kind, gap=float(gap), clear=clear, best_p=float(s.ps[s.best]),
                hurts_from=float(s.ps[worse[0]]) if worse else None, worst=worst,
                last=int(finite[-1]) if len(finite) else 0, diverged_ps=[float(p) for p in s.ps[~np.isfinite(s.test_med)]])
