"""Does a setting's lesson hold across seeds? p = 0 against dropout over many seeds, in one batched run.

One seed decides too much: it draws the noise, the initial weights and the masks. `over_seeds`
trains the p = 0 model and the dropout model (the config's p) for every seed at once
(`train.sweep`, ps = [0, p]) and `SeedTally` counts on how many seeds dropout ended with the
lower test loss, with the median test losses and the median ratio dropout / p = 0.
`candidates` lists the settings a search tries; `cli.py` prints the table. No plotting here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from .config import PRESET_OVER_SEEDS, PRESETS, ConfigError, LabConfig, preset
from .control import Control
from .data import split_sizes
from .train import Snapshot, sweep
from .verdict import PairsOverSeeds, ranked_median

VIEW_ONLY = ("snapshot_every", "mc_samples", "device")  # how a run is watched, not what it learns
SEEDS = tuple(range(11, 31))  # the seeds of the preset figures (PRESET_OVER_SEEDS), as in DESIGN.md
DEFAULT_GRID: dict[str, tuple] = {"n_points": (10, 20, 30), "noise": (0.5, 1.0)}  # around each preset
# Around a 2-D preset: its points in all, and Playground's noise (at most 0.5).
DEFAULT_GRID_2D: dict[str, tuple] = {"n_points": (100, 200), "noise": (0.25, 0.4, 0.5)}
HOLDS_SHARE = 0.95  # a lesson a teacher may project: dropout lower on at least 19 of 20 seeds …
HOLDS_RATIO = 0.6  # … and a median test loss at most 0.6 × that of p = 0


@dataclass(frozen=True)
class SeedTally(PairsOverSeeds):
    """Final eval-mode test MSE of the p = 0 and the dropout model of one setting, seed by seed: n,
    lower_by_seed, wins and the medians as the page's verdict counts them (verdict.PairsOverSeeds)."""

    label: str  # e.g. "classroom preset" or "classroom, n_points=10, noise=0.5"
    config: LabConfig  # the dropout model's p is config.p
    seeds: tuple[int, ...]
    test_p0: tuple[float, ...]  # (seeds,) the p = 0 model's final test loss
    test_p: tuple[float, ...]  # (seeds,) the dropout model's

    @property
    def median_ratio(self) -> float:
        """Median over seeds of dropout's test loss / p = 0's (not the ratio of the medians). A seed whose
        p = 0 model diverged and dropout's did not counts 0; one where dropout diverged, the highest."""
        return ranked_median([_ratio(b, d) for b, d in zip(self.test_p0, self.test_p)])

    def fewest_wins(self, window: int) -> int:
        """The fewest seeds with dropout lower in any `window` consecutive seeds of the list."""
        if not 1 <= window <= self.n:
            raise ConfigError(f"window={window}: must be between 1 and the number of seeds ({self.n})")
        lower = self.lower_by_seed
        return min(sum(lower[i:i + window]) for i in range(self.n - window + 1))

    def holds(self) -> bool:
        """The lesson a projected default must teach: dropout lower on ≥ 95 % of the seeds, median ratio ≤ 0.6."""
        return self.wins >= math.ceil(HOLDS_SHARE * self.n) and self.median_ratio <= HOLDS_RATIO

    def figures(self) -> dict[str, Any]:
        """The numbers the lab page quotes (PRESET_OVER_SEEDS), rounded to what it shows."""
        return dict(seeds=(self.seeds[0], self.seeds[-1]), n=self.n, lower=self.wins,
                    median_p0=_round3(self.median_p0), median_p=_round3(self.median_p),
                    median_ratio=_round3(self.median_ratio))

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None  # JSON has no NaN
        return {"label": self.label, "config": self.config.to_dict(), "p": self.config.p, "seeds": list(self.seeds),
                "dropout_lower": self.wins, "n": self.n, "median_test_p0": num(self.median_p0),
                "median_test_p": num(self.median_p), "median_ratio": num(self.median_ratio), "holds": self.holds(),
                "test_p0": [num(v) for v in self.test_p0], "test_p": [num(v) for v in self.test_p]}


def over_seeds_run(config: LabConfig, seeds: Sequence[int], control: Control | None = None) -> Iterator[Snapshot]:
    """The batched run behind a tally: models (p = 0, s) for every seed, then (p, s); see `tally`."""
    if config.p == 0:
        raise ConfigError("p=0: the dropout model needs p > 0 to be compared with the p = 0 model")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"seeds={list(seeds)}: give distinct seeds, at least one")
    return sweep(config, [0.0, config.p], list(seeds), control)


def tally(label: str, config: LabConfig, seeds: Sequence[int], snap: Snapshot) -> SeedTally:
    """The tally of a finished `over_seeds_run` (sweep's model order is p-major: all p = 0 first)."""
    k = len(seeds)
    losses = [float(v) for v in snap.test_loss]
    return SeedTally(label, config, tuple(int(s) for s in seeds), tuple(losses[:k]), tuple(losses[k:2 * k]))


def over_seeds(config: LabConfig, seeds: Sequence[int] = SEEDS, label: str = "",
               on_snapshot: Callable[[Snapshot], None] | None = None) -> SeedTally:
    """Train p = 0 and config.p for every seed at once, to the end; their tally."""
    config = config.with_(snapshot_every=min(config.epochs, 1000))  # the final losses are all we need
    snap = None
    for snap in over_seeds_run(config, seeds):
        if on_snapshot:
            on_snapshot(snap)
    return tally(label, config, seeds, snap)


def candidates(presets: Sequence[str], grid: Mapping[str, Sequence[Any]] | None = None) -> list[tuple[str, LabConfig]]:
    """(label, config) for each preset × each combination of the grid's values (a field: its values).

    The label names the preset and what differs from it ("source preset" when nothing does, apart
    from VIEW_ONLY fields); settings met twice are tried once.
    """
    grid = dict(grid or {})
    out, seen = [], set()
    for name in presets:
        base = preset(name)
        for values in itertools.product(*grid.values()):
            config = base.with_(**dict(zip(grid, values)))
            if config in seen:
                continue
            seen.add(config)
            changes = {k: v for k, v in config.to_dict().items() if v != getattr(base, k) and k not in VIEW_ONLY}
            shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items())
            out.append((f"{name}, {shown}" if changes else f"{name} preset", config))
    return out


def preset_of(config: LabConfig) -> str | None:
    """The preset this config is, apart from how it is watched (VIEW_ONLY); None for other settings."""
    view = {k: getattr(config, k) for k in VIEW_ONLY}
    return next((name for name in PRESETS if preset(name, **view) == config), None)


def default_grid(config: LabConfig) -> dict[str, tuple]:
    """The settings a search tries around a preset when it is given none: DEFAULT_GRID, or for a 2-D one DEFAULT_GRID_2D."""
    return dict(DEFAULT_GRID_2D if config.task == "classification" else DEFAULT_GRID)


def describe(config: LabConfig, dataset: bool = True) -> str:
    """The data of a setting in a few words: 'linear, 20 points, noise 1', or for 2-D data
    'moons, 200 points: 60 for training, 140 for testing, noise 0.3' (without the name: `dataset` False)."""
    name = f"{config.dataset}, " if dataset else ""
    if config.task == "classification":
        n_train, n_test = split_sizes(config)
        return f"{name}{config.n_points} points: {n_train} for training, {n_test} for testing, noise {config.noise:g}"
    return f"{name}{config.n_points} points, noise {config.noise:g}"


def preset_sentence(name: str, t: Callable[..., str]) -> str:
    """What the lab page says about a preset over seeds, from PRESET_OVER_SEEDS ('' for other settings).

    `t` is the page's translator (i18n.translator(lang)); the key is lab.over_seeds.holds when
    dropout was lower on at least 95 % of the seeds, else lab.over_seeds.unreliable.
    """
    fig = PRESET_OVER_SEEDS.get(name)
    if fig is None:
        return ""
    holds = fig["lower"] >= math.ceil(HOLDS_SHARE * fig["n"])
    first, last = fig["seeds"]
    return t(f"lab.over_seeds.{'holds' if holds else 'unreliable'}", preset=t(f"lab.presets.{name}"),
             k=fig["lower"], n=fig["n"], first=first, last=last, p=f"{PRESETS[name]['p']:g}",
             a=f"{fig['median_p']:.3f}", b=f"{fig['median_p0']:.3f}", ratio=f"{fig['median_ratio']:.2f}")


def _ratio(p0: float, p: float) -> float:
    if math.isfinite(p0) and math.isfinite(p) and p0 > 0:
        return p / p0
    return 0.0 if math.isfinite(p) and not math.isfinite(p0) else math.inf


def _round3(value: float) -> float:
    return float(f"{value:.3g}") if math.isfinite(value) else math.nan
