"""Every setting of a run: one frozen dataclass, its limits, presets and the URL round trip."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping


class ConfigError(ValueError):
    """A setting is out of range or malformed; the message names the field and its range."""


@dataclass(frozen=True)
class Limit:
    """What one field accepts: a numeric range or a set of names, and a one-line meaning."""

    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    hi_open: bool = False  # p < 1, not p <= 1: p = 1 would drop every unit
    # The widget: a slider moving in `step`, or one that stops only at `options` (a value from a
    # link between them is added as one more stop). Neither narrows what the field accepts.
    step: float | None = None
    options: tuple[float, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return f"{self.lo:g} ≤ value {'<' if self.hi_open else '≤'} {self.hi:g}"


DATASETS = ("source", "linear", "sine", "step")
VARIANTS = ("inverted", "vanilla", "torch")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")

LIMITS: dict[str, Limit] = {
    "p": Limit("probability of DROPPING each hidden unit (0 = no dropout; not the keep probability)", 0.0, 1.0, hi_open=True, step=0.01),
    "width": Limit("hidden units per layer", 1, 1024,
                   options=(1, 2, 4, 8, 16, 32, 64, 128, 200, 256, 512, 1024)),  # 200: the source's width
    "depth": Limit("number of hidden layers, each followed by ReLU and dropout", 1, 6, step=1),
    "epochs": Limit("training iterations; each is one full-batch step (the source calls them epochs)", 1, 20_000,
                    options=(10, 20, 50, 100, 200, 500, 1000, 1500, 2000, 3000, 5000, 10_000, 20_000)),
    "lr": Limit("learning rate of the optimizer", 1e-5, 10.0),
    "optimizer": Limit("sgd = SGD with momentum 0.9 (as the source); adam = Adam", choices=OPTIMIZERS),
    "weight_decay": Limit("L2 penalty added by the optimizer (0 = none)", 0.0, 1.0),
    "n_points": Limit("number of noisy training points", 2, 500, options=(2, 5, 10, 20, 30, 50, 100, 200, 500)),
    "noise": Limit("standard deviation of the noise added to the training targets", 0.0, 3.0, step=0.05),
    "seed": Limit("random seed for data, initial weights and dropout masks", 0, 2**31 - 1),
    "n_seeds": Limit("seeds trained side by side (seed, seed+1, …): the verdict counts on how many dropout wins", 1, 10),
    "dataset": Limit("target function; 'source' = the source demo's line with its same-x test points", choices=DATASETS),
    "variant": Limit("dropout implementation: inverted (scale 1/(1-p) in training), vanilla (scale at test), torch (F.dropout)", choices=VARIANTS),
    "device": Limit("where to train: auto picks CUDA when available", choices=DEVICES),
    "snapshot_every": Limit("iterations between two snapshots sent to the charts", 1, 1000,
                            options=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)),
    "mc_samples": Limit("dropout masks sampled at test time for the MC-dropout band (0 = off)", 0, 200,
                        options=(0, 2, 5, 10, 20, 50, 100, 200)),  # 1 mask has no spread: no band
}


@dataclass(frozen=True)
class LabConfig:
    """One run of the lab: a p=0 baseline and a dropout model trained side by side."""

    p: float = 0.5  # drop probability of the dropout model; the baseline always has p = 0
    width: int = 200  # hidden units per layer
    depth: int = 3  # hidden layers
    epochs: int = 2000  # full-batch iterations
    lr: float = 0.01  # learning rate
    optimizer: str = "sgd"  # sgd (momentum 0.9) or adam
    weight_decay: float = 0.0  # L2 penalty
    n_points: int = 10  # training points
    noise: float = 0.5  # std of the training noise
    seed: int = 1  # seeds data, weights and masks
    n_seeds: int = 1  # pairs trained: seed, seed + 1, …; the charts show the first, the verdict counts all
    dataset: str = "source"  # see DATASETS
    variant: str = "inverted"  # see VARIANTS
    device: str = "auto"  # auto / cpu / cuda
    snapshot_every: int = 20  # iterations between snapshots
    mc_samples: int = 0  # MC-dropout masks per snapshot (0 = off)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(f.name, getattr(self, f.name))

    @property
    def ps(self) -> tuple[float, ...]:
        """Drop probabilities of the models trained together: baseline first."""
        return (0.0, self.p)

    def models(self) -> list[tuple[float, int]]:
        """(p, seed) of every model the lab trains, in training order: the pair `ps` for seed, seed + 1,
        …, n_seeds of them, the config's own seed first (its pair is the one the charts show)."""
        seeds = [(self.seed + k) % (int(LIMITS["seed"].hi) + 1) for k in range(self.n_seeds)]  # past 2³¹ - 1: 0, 1, …
        return [(p, seed) for seed in seeds for p in self.ps]

    def with_(self, **changes: Any) -> "LabConfig":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: Any) -> None:
    limit = LIMITS[name]
    if limit.choices:
        if value not in limit.choices:
            raise ConfigError(f"{name}={value!r}: must be {limit.describe()}")
        return
    kind = FIELD_TYPES[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}={value!r}: must be a whole number, {limit.describe()}")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{name}={value!r}: must be a number, {limit.describe()}")
    too_high = value >= limit.hi if limit.hi_open else value > limit.hi
    # isfinite only on floats: math.isfinite(10**400) raises OverflowError instead of saying why.
    if (isinstance(value, float) and not math.isfinite(value)) or value < limit.lo or too_high:
        raise ConfigError(f"{name}={value!r}: must be {limit.describe()}")


FIELD_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(LabConfig)}
DEFAULTS = LabConfig()

# Presets are partial configs layered over the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # The source demo, exactly: 10 points, noise 0.5, 1-200-200-200-1, SGD(0.01, momentum 0.9), 2,000 iterations.
    "source": dict(dataset="source", n_points=10, noise=0.5, width=200, depth=3, epochs=2000,
                   lr=0.01, optimizer="sgd", weight_decay=0.0, p=0.5, seed=1),
    # Twice the source's noise on 20 points, tested on 200 fresh points: the p=0 net chases the
    # noise, dropout stays near the line. Chosen with `python -m dropviz seeds`: dropout's test
    # loss is lower on every one of seeds 1–30 (median ratio 0.45); with 10 points it was lower on
    # only 15 of seeds 11–30.
    "classroom": dict(dataset="linear", n_points=20, noise=1.0, width=200, depth=3, epochs=2000,
                      lr=0.01, optimizer="sgd", weight_decay=0.0, p=0.5, seed=1),
}

# What the lab page says about each preset over seeds, so it need not train them: on how many of
# the seeds dropout's final test loss was lower than p = 0's, the medians and the median ratio
# dropout / p = 0. Made by `python -m dropviz seeds --presets source,classroom --no-grid --figures`;
# tests/test_presets.py checks that the engine still gives them.
PRESET_OVER_SEEDS: dict[str, dict[str, Any]] = {
    "source": dict(seeds=(11, 30), n=20, lower=14, median_p0=0.349, median_p=0.27, median_ratio=0.782),
    "classroom": dict(seeds=(11, 30), n=20, lower=20, median_p0=0.633, median_p=0.223, median_ratio=0.427),
}


def preset(name: str, **overrides: Any) -> LabConfig:
    """The named preset, with optional overrides."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r}: must be one of " + ", ".join(PRESETS))
    return replace(DEFAULTS, **{**PRESETS[name], **overrides})


def clamp(raw: Mapping[str, Any], base: LabConfig = DEFAULTS) -> tuple[LabConfig, list[str]]:
    """Turn untrusted values (URL parameters, form input) into a valid config plus notices.

    Unknown keys are ignored, unparsable values fall back to `base`, numbers are clamped into
    range. Never raises.
    """
    values = base.to_dict()
    notices: list[str] = []
    for name, value in raw.items():
        if name not in LIMITS:
            continue
        if isinstance(value, (list, tuple)):  # a repeated URL key: the last one wins
            if not value:
                continue
            notices.append(f"{name}: given {len(value)} times, used the last value")
            value = value[-1]
        fixed, note = _clamp_one(name, value, values[name])
        values[name] = fixed
        if note:
            notices.append(note)
    return LabConfig(**values), notices


def _clamp_one(name: str, value: Any, fallback: Any) -> tuple[Any, str]:
    limit, kind = LIMITS[name], FIELD_TYPES[name]
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "…"
    if limit.choices:
        text = str(value).strip().lower()
        if text in limit.choices:
            return text, ""
        return fallback, f"{name}: {shown} is not {limit.describe()}; using {fallback!r}"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return fallback, f"{name}: {shown} is not a number; using {fallback!r}"
    if math.isnan(number):
        return fallback, f"{name}: {shown} is not a number; using {fallback!r}"
    fixed = min(max(number, limit.lo), limit.hi)
    if limit.hi_open and fixed >= limit.hi:  # only the bound itself moves: p = 0.995 stays valid
        fixed = _below(limit.hi, kind)
    fixed = int(round(fixed)) if kind is int else float(fixed)
    if fixed != number:
        return fixed, f"{name}: {shown} is outside {limit.describe()}; using {fixed!r}"
    return fixed, ""


def _below(hi: float, kind: type) -> float:
    """Largest allowed value under an open upper bound (p < 1 becomes p = 0.99)."""
    return hi - 1 if kind is int else round(hi - 0.01, 2)


def to_query(config: LabConfig, base: LabConfig = DEFAULTS) -> dict[str, str]:
    """The fields that differ from `base`, as URL query strings (short links)."""
    return {k: _fmt(v) for k, v in config.to_dict().items() if v != getattr(base, k)}


def from_query(query: Mapping[str, Any], base: LabConfig = DEFAULTS) -> tuple[LabConfig, list[str]]:
    """A config from URL query parameters; alias of `clamp`, named for the round trip."""
    return clamp(query, base)


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)  # repr round-trips floats
