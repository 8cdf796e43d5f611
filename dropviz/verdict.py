"""The lab's verdict over seeds: on how many seeds dropout had the lower test loss, in plain words.

One seed draws the noise, the initial weights and the masks, and decides too much (DESIGN.md,
"Never let one seed decide the lesson"). The lab trains the p = 0 / p pair for `n_seeds` seeds in
one batched run (train.run); `over_seeds` reads every pair's test loss from a snapshot and
`sentence` says what they show: "so far" while the run goes on, a conclusion only at its end.
Pure functions: no streamlit, no plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .train import Snapshot

Text = Callable[..., str]


class PairsOverSeeds:
    """The p = 0 and the dropout model's test loss, seed by seed (NaN or inf: that model diverged), and
    what both the page's verdict (SeedVerdict) and the `seeds` command's tally (seeds.SeedTally) count
    on them, by one rule: a diverged loss ranks above every finite one. Subclasses are dataclasses
    with the fields `seeds`, `test_p0` and `test_p`."""

    seeds: tuple[int, ...]  # (n,)
    test_p0: tuple[float, ...]  # (n,) the p = 0 model's test loss
    test_p: tuple[float, ...]  # (n,) the dropout model's

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def lower_by_seed(self) -> tuple[bool, ...]:
        """Per seed: did dropout end with the strictly lower test loss? A diverged dropout model never does."""
        return tuple(dropout_lower(b, d) for b, d in zip(self.test_p0, self.test_p))

    @property
    def wins(self) -> int:
        """Seeds on which dropout had the lower test loss."""
        return sum(self.lower_by_seed)

    @property
    def median_p0(self) -> float:
        return ranked_median(self.test_p0)

    @property
    def median_p(self) -> float:
        return ranked_median(self.test_p)


@dataclass(frozen=True)
class SeedVerdict(PairsOverSeeds):
    """Each seed's pair at one snapshot: the charted seed first, then seed + 1, …"""

    p: float  # the dropout model's drop probability
    seeds: tuple[int, ...]
    test_p0: tuple[float, ...]
    test_p: tuple[float, ...]
    iteration: int
    total: int
    final: bool  # every iteration done: a conclusion, not "so far"

    @property
    def ties(self) -> int:
        """Seeds with equal test losses (with p = 0 both models are the same network)."""
        return sum(b == d and math.isfinite(b) for b, d in zip(self.test_p0, self.test_p))

    @property
    def diverged(self) -> int:
        """Seeds on which either model's loss is NaN or infinite."""
        return sum(not (math.isfinite(b) and math.isfinite(d)) for b, d in zip(self.test_p0, self.test_p))


def over_seeds(snap: Snapshot) -> SeedVerdict:
    """The verdict's numbers from a lab snapshot: its models are pairs (p = 0, p), one per seed."""
    ps = np.asarray(snap.all_ps, dtype=float).reshape(-1, 2)
    if not (ps[:, 0] == 0).all():
        raise ValueError(f"not the lab's pairs (p = 0 first in each): ps {snap.all_ps.tolist()}")
    test = np.asarray(snap.all_test_loss, dtype=float).reshape(-1, 2)
    return SeedVerdict(p=float(ps[0, 1]), seeds=tuple(int(s) for s in np.asarray(snap.all_seeds)[::2]),
                       test_p0=tuple(test[:, 0].tolist()), test_p=tuple(test[:, 1].tolist()),
                       iteration=int(snap.iteration), total=int(snap.total), final=snap.status == "done")


def sentence(v: SeedVerdict, t: Text) -> str:
    """What the page says: on how many seeds dropout had the lower test loss, with the medians (bold
    only once the run is done; "so far" before), ties and diverged seeds if any, and the charted
    seed's own numbers. A single seed gets its numbers and a word of caution, never a winner."""
    when = dict(it=f"{v.iteration:,}", total=f"{v.total:,}")
    if v.n == 1:
        key = "lab.verdict.final_one" if v.final else "lab.verdict.so_far_one"
        parts = [t(key, a=loss(v.test_p[0]), b=loss(v.test_p0[0]), p=f"{v.p:g}", **when)]
    else:
        numbers = dict(k=v.wins, n=v.n, a=loss(v.median_p), b=loss(v.median_p0), p=f"{v.p:g}")
        parts = [t("lab.verdict.final", **numbers) if v.final else t("lab.verdict.so_far", **when, **numbers)]
    if v.ties:
        parts.append(t("lab.verdict.ties", ties=v.ties, n=v.n))
    if v.diverged:
        parts.append(t("lab.verdict.diverged", d=v.diverged, n=v.n))
    if v.n == 1:
        parts.append(t("lab.verdict.one_seed"))
    else:
        parts.append(t("lab.verdict.charted", seed=v.seeds[0], a=loss(v.test_p[0]), b=loss(v.test_p0[0])))
    return " ".join(parts)


def verdict_text(snap: Snapshot, t: Text) -> str:
    """`sentence(over_seeds(snap), t)`: the page's one call."""
    return sentence(over_seeds(snap), t)


def loss(value: float) -> str:
    """A test loss as the page prints it: three significant digits; a diverged one as ∞."""
    return f"{value:.3g}" if math.isfinite(value) else "∞"


def dropout_lower(baseline: float, dropout: float) -> bool:
    """Did dropout end lower? NaN and inf rank above every finite loss, and never below each other:
    the one rule for the page's verdict and the `seeds` command's tally."""
    return _rank(dropout) < _rank(baseline)


def _rank(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def ranked_median(values) -> float:
    """Median with a diverged loss (NaN, inf) ranked as the highest: one diverged seed of three
    moves the median up by a seed, as a very bad loss would, instead of making it NaN."""
    return float(np.median([_rank(v) for v in values])) if len(values) else math.nan
