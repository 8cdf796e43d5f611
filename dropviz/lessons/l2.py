"""Dropout vs L2: the same network trained with neither, dropout, weight decay, and both.

The engine trains one optimizer (one weight_decay) per run, so the four models are two of its
runs stepped side by side: weight_decay 0 and λ, each the lab's pair p = 0 / p. Both runs use
the same seed, so all four start from the same weights and see the same points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator, Iterator

import numpy as np

from ..config import LabConfig
from ..control import Control
from ..train import Snapshot, run

FRAMES = 40  # snapshots per run
MODELS = ("neither", "dropout", "l2", "both")  # order of the model axis everywhere below


@dataclass
class L2Snapshot:
    """Both runs at one moment, as four models in MODELS order; plain numpy data."""

    iteration: int
    total: int
    status: str  # running | done | cancelled | diverged | error
    message: str
    ps: np.ndarray  # (4,) drop probability
    decays: np.ndarray  # (4,) weight decay λ
    train_loss: np.ndarray  # (4,)
    test_loss: np.ndarray  # (4,)
    history: dict[str, np.ndarray]  # iteration (K,), train/test (K, 4), weight_norm (K, layers, 4)
    weight_norm: np.ndarray  # (layers, 4)
    weight_hist: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per layer: density (4, B), centers (4, B)

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True)
class L2Spec:
    """A runner key: the lab config, the drop probability p and the weight decay λ."""

    config: LabConfig
    p: float
    decay: float

    @classmethod
    def create(cls, base: LabConfig, p: float, decay: float) -> "L2Spec":
        """The spec for the lab's settings (its own p and weight decay are replaced by these)."""
        config = base.with_(p=p, weight_decay=0.0, mc_samples=0, n_seeds=1, snapshot_every=max(1, base.epochs // FRAMES))
        return cls(config, p, decay)

    def snapshots(self, control: Control) -> Iterator[L2Snapshot | None]:
        """Both runs stepped alternately, one snapshot each, merged; flat out (a lesson wants the result)."""
        control.frame_interval = 0.0
        plain = run(self.config, control)
        decayed = run(self.config.with_(weight_decay=self.decay), control)
        while True:
            a = yield from _next_snapshot(plain)
            b = yield from _next_snapshot(decayed)
            if a is None or b is None:
                return
            snap = merge(a, b, self.decay)
            yield snap
            if snap.finished:
                return


def _next_snapshot(frames: Iterator[Snapshot | None]) -> Generator[None, None, Snapshot | None]:
    """The next snapshot of a run, passing on the Nones with which it hands its worker back
    (control.py); None when the run has ended."""
    for frame in frames:
        if frame is not None:
            return frame
        yield None
    return None


def merge(a: Snapshot, b: Snapshot, decay: float) -> L2Snapshot:
    """Two pair snapshots (λ = 0 and λ) as one four-model snapshot."""
    statuses = {a.status, b.status}
    status = next((s for s in ("error", "diverged", "cancelled", "running") if s in statuses), "done")
    cat = lambda x, y, axis=-1: np.concatenate([x, y], axis=axis)
    ha, hb = a.history, b.history
    k = min(len(ha["iteration"]), len(hb["iteration"]))  # equal unless one run stopped early
    history = {"iteration": ha["iteration"][:k], "train": cat(ha["train"][:k], hb["train"][:k]),
               "test": cat(ha["test"][:k], hb["test"][:k]), "weight_norm": cat(ha["weight_norm"][:k], hb["weight_norm"][:k])}
    hists = [_density(ca, ea, cb, eb) for (ca, ea), (cb, eb) in zip(a.weight_hist, b.weight_hist)]
    return L2Snapshot(
        iteration=min(a.iteration, b.iteration), total=a.total, status=status, message=a.message or b.message,
        ps=cat(a.ps, b.ps), decays=np.array([0.0, 0.0, decay, decay]), train_loss=cat(a.train_loss, b.train_loss),
        test_loss=cat(a.test_loss, b.test_loss), history=history, weight_norm=cat(a.weight_norm, b.weight_norm),
        weight_hist=hists)


def _density(ca: np.ndarray, ea: np.ndarray, cb: np.ndarray, eb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histogram counts over each run's own bins → densities (area 1) at bin centres, (4, B) each."""
    def dens(counts, edges):
        width = np.diff(edges)
        total = counts.sum(1, keepdims=True)
        return counts / np.where(total > 0, total, 1) / width, np.broadcast_to((edges[:-1] + edges[1:]) / 2, counts.shape)
    (da, xa), (db, xb) = dens(ca, ea), dens(cb, eb)
    return np.concatenate([da, db]), np.concatenate([xa, xb])


def shrinkage(snap: L2Snapshot) -> np.ndarray:
    """Final weight norm of dropout, L2 and both relative to neither, per layer: (layers, 3)."""
    norms = snap.weight_norm.astype(float)
    return norms[:, 1:] / norms[:, :1]


def spread(snap: L2Snapshot) -> np.ndarray:
    """Per layer and model, the std of the final weight distribution (from the histogram): (layers, 4)."""
    out = []
    for density, centers in snap.weight_hist:
        mass = density / density.sum(1, keepdims=True)
        mean = (mass * centers).sum(1, keepdims=True)
        out.append(np.sqrt((mass * (centers - mean) ** 2).sum(1)))
    return np.array(out)
