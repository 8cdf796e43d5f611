"""What a run costs the server, counted before it starts: training, snapshots and memory.

The lab refuses a run over the per-run budget with a Refusal that says what to lower (a sentence
of the locale files and its numbers, so the page says it in the reader's language), and
the scheduler admits runs while their CPU and memory fit (scheduler.py). Counts are estimates
from the sizes in the config (FLOPs and bytes), checked against real runs by tests/test_budget.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import LabConfig
from .data import GRID_2D, GRID_POINTS, HELD_OUT_POINTS, split_sizes

BUDGET_GFLOP = 2_000.0  # per run, everything counted; the source demo needs about 20
BUDGET_BYTES = 512 << 20  # per run, while it trains
MASK_DRAWS_AHEAD = 16  # the fast step draws masks this many steps at a time (model.py) …
MASK_AHEAD_FLOATS = 1 << 20  # … and at most this many multipliers
MC_GRID = 60  # x points of the MC-dropout band (train.py draws it there)
HIST_BINS = 30
GFLOP_PER_SECOND = 20.0  # one core, small batched matmuls with the step's other work (bench)
SECONDS_PER_STEP = 60e-6  # Python and dispatch per training step, whatever the size
SECONDS_PER_SNAPSHOT = 1e-3  # the same for a snapshot (evaluation, statistics, copies)


@dataclass(frozen=True)
class Cost:
    """A run's estimated cost; gflop = train_gflop + snapshot_gflop."""

    train_gflop: float
    snapshot_gflop: float
    memory_bytes: int
    cores: float  # share of one core the run uses at the watching pace (1.0 = flat out)

    @property
    def gflop(self) -> float:
        return self.train_gflop + self.snapshot_gflop


def weights_per_model(config: LabConfig) -> int:
    """Weights and biases of one model: inputs (1, or 2 for the 2-D data) → width → … → width → 1."""
    w, inputs = config.width, input_features(config)
    return w * (w * (config.depth - 1) + inputs + 1) + w * config.depth + 1


def input_features(config: LabConfig) -> int:
    return 2 if config.task == "classification" else 1


def test_points(config: LabConfig) -> int:
    return split_sizes(config)[1]


def step_points(config: LabConfig) -> int:
    """Points a training step sees: all the training points, or one mini-batch of them."""
    n_train = split_sizes(config)[0]
    return config.batch_size if 0 < config.batch_size < n_train else n_train


def chart_points(config: LabConfig) -> int:
    """Points each charted model is evaluated at in a frame: the curve and the MC band (1-D), or the
    heatmap's 50 × 50 grid (2-D, which has no band: train.py draws none)."""
    if config.task == "classification":
        return GRID_2D * GRID_2D
    return GRID_POINTS + config.mc_samples * MC_GRID


def run_cost(config: LabConfig, models: int | None = None, frame_interval: float = 0.2) -> Cost:
    """The cost of `models` models of `config` trained together, each charted in full at every
    snapshot (a sweep). Without `models`, the lab's run: config.n_seeds pairs, of which the
    snapshots chart the first pair and only evaluate the others' losses (train.run)."""
    trained, charted = (len(config.models()), len(config.ps)) if models is None else (models, models)
    weights, per_step = weights_per_model(config), step_points(config)
    train = 6 * per_step * weights * config.epochs * trained / 1e9  # forward + backward: ~6 per weight and point
    snapshots = config.epochs // config.snapshot_every + 2  # the untrained one, the last one
    losses = sum(split_sizes(config))  # every model's, at every snapshot
    charts = chart_points(config)  # the charted models' curves and MC band, or heatmap
    per_snapshot = (2 * (losses * trained + charts * charted) * weights + 20 * weights * charted) / 1e9  # forwards; histograms and norms
    # A lab run's charted pair is also a model of its own when there are further seeds or an MC band (train._Stats).
    band = config.mc_samples > 0 and config.task == "regression"
    copy = models is None and (charted < trained or band)
    memory = _memory_bytes(config, weights, trained + (charted if copy else 0))
    frame_seconds = (config.snapshot_every * (6 * per_step * weights * trained / 1e9 / GFLOP_PER_SECOND
                                               + SECONDS_PER_STEP)
                     + per_snapshot / GFLOP_PER_SECOND + SECONDS_PER_SNAPSHOT)
    cores = min(1.0, frame_seconds / frame_interval) if frame_interval > 0 else 1.0
    return Cost(train, per_snapshot * snapshots, memory, cores)


def _memory_bytes(config: LabConfig, weights: int, models: int) -> int:
    """Bytes a live run holds: parameters with their gradient and optimizer state, activations,
    masks drawn ahead, the MC band's activations, and the newest snapshot (masks, curves)."""
    params = 4 * weights * models * 6  # weights, gradient, momentum (Adam: two moments), copies for snapshots
    width_rows = config.width * config.depth * models
    per_step = step_points(config)
    activations = 4 * 8 * per_step * width_rows  # kept for the backward, with their gradients and temporaries
    masks_ahead = 4 * min(MASK_DRAWS_AHEAD * per_step * width_rows, MASK_AHEAD_FLOATS) * 3 // 2  # + the bits
    evaluated = max(*split_sizes(config), HELD_OUT_POINTS, chart_points(config))
    # Every layer's random bits and mask multipliers for all rows at once, and a few activations.
    evaluation = 4 * (2 * config.depth + 6) * evaluated * config.width * models
    # The masks; the curves and band, or the heatmap's logits and probabilities; the histograms.
    curves = 2 * GRID_2D * GRID_2D if config.task == "classification" else GRID_POINTS
    snapshot = per_step * width_rows + 4 * (curves + MC_GRID * 2) * models \
        + 4 * HIST_BINS * (config.depth + 1) * models * 2
    return params + activations + masks_ahead + evaluation + snapshot


@dataclass(frozen=True)
class Refusal:
    """Why a run is over the per-run budget, in no language: `key` names its sentence in the
    locale files (budget.<key>, dropviz/locales/<lang>/budget.toml), `fields` its numbers, already
    formatted. A run of several seeds has the "_seeds" form of the sentence, which names the seeds
    as something to lower (each one a pair more)."""

    key: str
    fields: dict[str, str]


def budget_problem(config: LabConfig, models: int | None = None, budget_gflop: float = BUDGET_GFLOP,
                   budget_bytes: int = BUDGET_BYTES) -> Refusal | None:
    """None when the run fits the per-run budget, else a Refusal saying what to lower (`models`: as
    run_cost's, the lab's run of config.n_seeds pairs by default)."""
    cost = run_cost(config, models)
    seeds = "_seeds" if models is None and config.n_seeds > 1 else ""
    counts = {"gflop": f"{cost.gflop:,.0f}", "budget": f"{budget_gflop:,.0f}", "seeds": f"{config.n_seeds}"}
    if cost.memory_bytes > budget_bytes:
        return Refusal("memory" + seeds, {"mb": f"{cost.memory_bytes / 2**20:,.0f}",
                                          "budget_mb": f"{budget_bytes / 2**20:,.0f}", "seeds": counts["seeds"]})
    if cost.gflop <= budget_gflop:
        return None
    if cost.snapshot_gflop > cost.train_gflop:  # the snapshots, not the training, are what is too much
        snapshots = {**counts, "snapshot_gflop": f"{cost.snapshot_gflop:,.0f}",
                     "snapshots": f"{config.epochs // config.snapshot_every + 2:,}"}
        if config.task == "classification":  # no MC band to lower: the heatmap grid is what each frame costs
            return Refusal("snapshots_2d", {**snapshots, "grid": f"{chart_points(config):,}"})
        return Refusal("snapshots", {**snapshots, "mc_samples": f"{config.mc_samples}"})
    fits = _most_epochs(config, models, budget_gflop)
    return Refusal("training" + seeds, {**counts, "fits": f"{fits:,}"})


def _most_epochs(config: LabConfig, models: int | None, budget_gflop: float) -> int:
    """The most epochs that fit the budget with the other settings as they are (cost grows with epochs)."""
    lo, hi = 0, config.epochs
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if run_cost(config.with_(epochs=mid), models).gflop <= budget_gflop:
            lo = mid
        else:
            hi = mid - 1
    return lo
