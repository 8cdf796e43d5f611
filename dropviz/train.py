"""The training loop: a config in, a stream of plain-data snapshots out.

`run(config)` trains the p=0 baseline and the dropout model side by side, for each of the
config's `n_seeds` seeds at once; `sweep(config, ps, seeds)` trains every (p, seed) pair at once
with the same code. Both yield `Snapshot`s: numpy arrays and numbers only, so nothing downstream
ever touches a tensor.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch

from .config import LabConfig
from .control import DETAILS, STOP, YIELD, Control
from .data import GRID_2D, Dataset, make_dataset
from .data2d import Dataset2D
from .devices import resolve_device
from .history import History
from .fast_step import FlatSGD, FusedStep, supports
from .model import MiniBatches, ReferenceStep, StackedMLP, accuracy, losses_per_model
from .netview import NetView, drawn_units, net_view

HIST_BINS = 30  # bins of the weight and gradient histograms
MC_GRID = 60  # x points of the MC-dropout band (coarser than the curve: T samples each)
MC_SEED_OFFSET = 2_000_003  # MC-band masks come from seed + this

BACKENDS = ("auto", "fused", "reference")  # see make_trainer; DROPVIZ_BACKEND forces one in a process

OPTIMIZERS = {
    # The lab's optimizers for one flat parameter (the lessons' code): SGD as the source, momentum
    # 0.9. FlatSGD: torch.optim.SGD(fused=True)'s kernel, one for the whole flat parameter, without
    # torch.optim's per-step Python and its torch._dynamo import. The training loop's backends
    # build their own (model.ReferenceStep: torch.optim; fast_step.FusedStep: these two).
    "sgd": lambda params, cfg: FlatSGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay),
    "adam": lambda params, cfg: torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True),
}


@dataclass(eq=False)  # compared and hashed by identity: viewers of one run share its snapshots
class Snapshot:
    """Everything the page shows at one moment of a run; model axis M comes first or last as noted.

    M counts the charted models: the config's own seed's pair in the lab, every model in a sweep.
    The lab's further seeds train in the same run and appear only in the all_* fields: their losses.
    """

    iteration: int
    total: int
    status: str  # running | done | cancelled | diverged | error
    message: str
    ps: np.ndarray  # (M,) drop probability of each model
    seeds: np.ndarray  # (M,)
    train_loss: np.ndarray  # (M,) eval-mode loss on the training points: MSE, or for 2-D the BCE
    test_loss: np.ndarray  # (M,) eval-mode loss on the test points
    # iteration (K,), train/test (K, M), weight_norm (K, layers, M); for 2-D also train_acc/test_acc (K, M)
    history: dict[str, np.ndarray]
    x_grid: np.ndarray  # (G,) x values; 2-D: (G, 2) the heatmap grid's points, row-major (see prob)
    pred: np.ndarray  # (M, G) eval-mode predictions; 2-D: logits
    masks: np.ndarray  # (M, depth, N, H) uint8 keep masks of the last training step, 1 = kept
    drop_rate: np.ndarray  # (M, depth) share of units dropped in those masks
    weight_norm: np.ndarray  # (layers, M)
    # Every model trained, in training order, the charted M first (A = M in a sweep; 2 · n_seeds in the lab).
    all_ps: np.ndarray  # (A,)
    all_seeds: np.ndarray  # (A,)
    all_train_loss: np.ndarray  # (A,)
    all_test_loss: np.ndarray  # (A,)
    all_diverged: np.ndarray  # (A,) bool
    weight_hist: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # per layer: counts (M, B), edges
    mc_x: np.ndarray | None = None  # (G_mc,)
    mc_mean: np.ndarray | None = None  # (M, G_mc) mean over sampled masks
    mc_std: np.ndarray | None = None  # (M, G_mc)
    diverged: np.ndarray | None = None  # (M,) bool
    its_per_sec: float = 0.0
    elapsed: float = 0.0
    device: str = "cpu"
    device_note: str = ""
    data: Dataset | Dataset2D | None = None
    net: NetView | None = None  # the network view's units, weights and masks (with detail; netview.py)
    # 2-D classification (config.task): the decision-boundary heatmap and the accuracies.
    task: str = "regression"  # or "classification"
    grid_axis: np.ndarray | None = None  # (R,) the heatmap's axis, R = data.GRID_2D, the same for x1 and x2
    prob: np.ndarray | None = None  # (M, R, R) float32 P(class 1), prob[m, i, j] at (x1 = grid_axis[j], x2 = grid_axis[i])
    train_acc: np.ndarray | None = None  # (M,) eval-mode share of the training points classified right
    test_acc: np.ndarray | None = None  # (M,) and of the test points
    all_train_acc: np.ndarray | None = None  # (A,) every model's, as all_train_loss
    all_test_acc: np.ndarray | None = None  # (A,)

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def classification(self) -> bool:
        """A 2-D run's: its losses are cross-entropies, its charts decision boundaries."""
        return self.task == "classification"


def run(config: LabConfig, control: Control | None = None) -> Iterator[Snapshot | None]:
    """Train the baseline (p = 0) and the dropout model (p) from the same weights on the same data,
    for config.n_seeds seeds in one batched run (config.models()). The snapshots chart the config's
    own seed's pair, exactly as a one-seed run would (its models draw from their seed's generators
    only); the other seeds add their losses (Snapshot.all_*), for the verdict over seeds.

    Yields a Snapshot per frame, and None where the run hands its worker back (paused, or its time
    slice is over; see control.py): never without a Control that pauses or slices."""
    models = config.models()
    return train_models(config, [p for p, _ in models], [s for _, s in models], control, charted=len(config.ps))


def sweep(config: LabConfig, ps: Sequence[float], seeds: Sequence[int],
          control: Control | None = None, detail: bool = False) -> Iterator[Snapshot | None]:
    """Train every (p, seed) pair at once; model order is p-major: (p0, s0), (p0, s1), …"""
    pairs = [(p, s) for p in ps for s in seeds]
    return train_models(config, [p for p, _ in pairs], [s for _, s in pairs], control, detail)


def train_models(config: LabConfig, ps: list[float], seeds: list[int], control: Control | None = None,
                 detail: bool = True, charted: int | None = None, backend: str | None = None) -> Iterator[Snapshot | None]:
    """The loop behind `run` and `sweep`: model m has drop probability ps[m] and seed seeds[m].

    The snapshots chart the first `charted` models (all by default): predictions, masks, weight
    statistics and, with `detail`, the MC band, and the histograms and the network view while its
    viewers show them (control.shows); the others get their losses only.
    `backend` picks the training step (see make_trainer); the numbers are the same either way.

    The 2-D datasets (config.task "classification") train the same way with two inputs, a logit
    out and the binary cross-entropy; their frames chart a heatmap grid (`chart_grid`)."""
    control = control or Control()
    device, device_note = resolve_device(config.device)
    data = make_dataset(config)
    t = _points_per_model(config, seeds, device)
    x_grid = torch.from_numpy(chart_grid(data)).to(device)  # (G, in)
    model = StackedMLP(ps, config.width, config.depth, seeds, config.variant, device, in_features=x_grid.shape[1])
    trainer = make_trainer(model, config, backend)
    generators = _generator_per_seed(seeds, device, shared=config.variant != "torch")
    batches = MiniBatches(seeds, t["x_train"].shape[1], config.batch_size, device)  # full batch: None every step
    history = History(extra=ACCURACY_COLUMNS if config.task == "classification" else ())
    stats = _Stats(config, ps, seeds, device, device_note, data, detail, charted)

    start, done = time.perf_counter(), 0
    # Each frame computes the details its viewers show (control.shows, read at every frame).
    yield stats.snapshot(model, x_grid, t, history, 0, "running", "", start, done, shows=control.shows)  # untrained
    unsent = 0  # snapshots since the last frame that only went into the history (control.frame_stride)
    for it in range(1, config.epochs + 1):
        while (go := control.next_iteration()) == YIELD:
            yield None  # paused, or this worker's time slice is over: the scheduler steps us again later
        if go == STOP:
            yield stats.snapshot(model, x_grid, t, history, it - 1, "cancelled", "Stopped.", start, done,
                                 shows=control.shows)
            return
        # stepped() clears its flag, which must not outlive the step that set it: ask it every iteration.
        stepped = control.stepped()
        snapshot_after = stepped or not it % config.snapshot_every or it == config.epochs
        train_step(trainer, t["x_train"], t["y_train"], generators, batches.next())
        done += 1
        if not snapshot_after:
            continue
        row = None  # this iteration's history row, when it was recorded before the frame was decided on
        if not stepped and it < config.epochs and unsent + 1 < control.frame_stride:
            row = stats.record(model, t, history, it)
            if not row.all_diverged.any():  # a diverged model is named at once, below
                unsent += 1
                continue
        unsent = 0
        snap = stats.snapshot(model, x_grid, t, history, it, "running", "", start, done, row, control.shows)
        if snap.all_diverged.all():
            snap.status, snap.message = "diverged", _divergence_message(snap, config)
            yield snap
            return
        if snap.all_diverged.any():
            snap.message = _divergence_message(snap, config)
        if it == config.epochs:
            snap.status, snap.message = "done", snap.message or "Finished."
        yield snap


def _points_per_model(config: LabConfig, seeds: list[int], device) -> dict[str, torch.Tensor]:
    """Each model's training and test points: x (M, n, in), y (M, n, 1); models with the same seed
    see the same points (their seed's dataset)."""
    per_seed = {s: make_dataset(config.with_(seed=s)) for s in set(seeds)}
    return {k: torch.stack([torch.from_numpy(getattr(per_seed[s], k)) for s in seeds]).to(device)
            for k in ("x_train", "y_train", "x_test", "y_test")}


def make_trainer(model: StackedMLP, config: LabConfig, backend: str | None = None) -> ReferenceStep | FusedStep:
    """The training step for these settings: the fused one (fast_step.FusedStep) wherever it
    supports them, else the reference (model.ReferenceStep, the standard PyTorch loop).

    `backend` "fused" or "reference" forces one (tests, bench); None reads the environment
    variable DROPVIZ_BACKEND (so a whole process, e.g. `python -m dropviz run`, can be timed
    with either), and "auto" or nothing picks. Both give the same masks, losses and weights to
    float rounding (tests/test_backends.py)."""
    backend = backend or os.environ.get("DROPVIZ_BACKEND") or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: must be one of {', '.join(BACKENDS)}")
    fused = backend == "fused" or (backend == "auto" and supports(config.optimizer, config.variant))
    step = FusedStep if fused else ReferenceStep
    return step(model, config.optimizer, config.lr, config.weight_decay, l1=config.l1, loss=LOSS_OF_TASK[config.task])


LOSS_OF_TASK = {"regression": "mse", "classification": "bce"}  # model.losses_per_model's names
ACCURACY_COLUMNS = ("train_acc", "test_acc")  # a classification run's further history columns


def chart_grid(data: Dataset | Dataset2D) -> np.ndarray:
    """Where the charted models are evaluated at each frame: the 1-D curve's x (G, 1), or the 2-D
    heatmap's points (R², 2), row-major: point i·R + j is (axis[j], axis[i])."""
    return data.x_grid if isinstance(data, Dataset) else Dataset2D.grid(GRID_2D)[0]


def train_step(trainer: ReferenceStep | FusedStep, x: torch.Tensor, y: torch.Tensor,
               generators: list[torch.Generator], batch: torch.Tensor | None = None) -> torch.Tensor:
    """One iteration: fresh masks from the run's generators, forward, backward, the optimizer's
    update, on all the points or on `batch` (M, B) of them (model.MiniBatches); returns each model's
    training loss (M,). Whatever the backend, a run's numbers do not depend on when it is looked
    at: snapshots read the model and never draw from its generators."""
    return trainer.step(x, y, generators, batch=batch)


def _generator_per_seed(seeds: Sequence[int], device, shared: bool = True) -> list[torch.Generator]:
    """A generator per model, seeded with its seed: the run's only source of dropout masks.

    With `shared`, one object per distinct seed: the models of one seed would draw the same bits
    from generators seeded alike, and StackedMLP.sample_masks draws once for them. The "torch"
    variant draws a Bernoulli mask per model, as F.dropout does: each model its own object."""
    if not shared:
        return [torch.Generator(device).manual_seed(s) for s in seeds]
    by_seed = {s: torch.Generator(device).manual_seed(s) for s in set(seeds)}
    return [by_seed[s] for s in seeds]


def _divergence_message(snap: Snapshot, config: LabConfig) -> str:
    """Each diverged p named once (a sweep or the lab's seeds have it once per seed); "by" the iteration
    of the snapshot that found it, which can be up to a snapshot interval after it happened."""
    names = [f"p={p:g}" for p in sorted({float(p) for p in snap.all_ps[snap.all_diverged]})]
    names = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    models, them = ("model", "it") if int(snap.all_diverged.sum()) == 1 else ("models", "them")
    return (f"The loss of the {names} {models} became NaN or infinite by iteration {snap.iteration}: "
            f"learning rate {config.lr:g} is too high for {them}. Lower the learning rate and train again.")


class _Row(NamedTuple):
    """A row of the loss history (`_Stats.record`): what a frame of the same iteration reuses."""

    all_train: np.ndarray  # (A,) eval-mode loss (MSE, or the 2-D data's BCE) of every model on its training points
    all_test: np.ndarray  # (A,) and on its test points
    all_diverged: np.ndarray  # (A,) bool: either loss is NaN or infinite
    norms: np.ndarray  # (layers, M) the charted models' weight norms
    shown: StackedMLP  # the charted models: their own copy (see _Stats), or the model itself
    all_train_acc: np.ndarray | None = None  # (A,) 2-D: accuracy on the training points
    all_test_acc: np.ndarray | None = None  # (A,) and on the test points


class _Stats:
    """Turns the live model into a Snapshot: evaluation, masks, weight statistics, MC band.

    Only the first `charted` models are charted. When there are others (the lab's further seeds),
    a StackedMLP of the charted ones alone gets a copy of their weights at each snapshot and gives
    their predictions, norms, histograms and MC band: the very computation of a run of those models
    alone, at the cost of the charted models, not of all of them. All models are evaluated on
    their training and test points, in one forward. The MC band always runs on such a copy: it
    samples masks in training mode, and on the training model that would overwrite the masks of the
    last training step (StackedMLP.last_masks), which the snapshot shows.
    """

    def __init__(self, config: LabConfig, ps, seeds, device, device_note, data, detail, charted=None):
        self.config, self.device, self.device_note, self.data, self.detail = config, device, device_note, data, detail
        self.charted = len(ps) if charted is None else charted
        self.all_ps, self.all_seeds = np.asarray(ps, dtype=np.float32), np.asarray(seeds)
        self.ps, self.seeds = self.all_ps[:self.charted], self.all_seeds[:self.charted]
        self.classify = config.task == "classification"
        self.grid_axis = Dataset2D.grid(GRID_2D)[1] if self.classify else None
        copy = self.charted < len(ps) or (detail and config.mc_samples > 0 and not self.classify)
        self.charted_model = StackedMLP(list(ps[:self.charted]), config.width, config.depth, list(seeds[:self.charted]),
                                        config.variant, device, in_features=data.x_train.shape[1]) if copy else None
        # The MC band's masks: their own generators, so the band is reproducible and never
        # shifts the training masks.
        self.mc_generators = _generator_per_seed([s + MC_SEED_OFFSET for s in seeds[:self.charted]], device)
        self.net_units = drawn_units(config.width, config.depth, int(seeds[0]))  # chosen once per run
        # The source tests at its training x (data.py): one forward then serves both losses.
        self.test_at_train_x = np.array_equal(data.x_test, data.x_train)

    @torch.no_grad()
    def record(self, model: StackedMLP, t, history: History, it: int) -> _Row:
        """The history's row for iteration `it` (eval-mode losses of every model, weight norms of the
        charted ones): all a snapshot that is not sent as a frame costs."""
        if model.training:  # (eval() walks every module even when there is nothing to switch)
            model.eval()
        shown = self._charted_model(model)
        # The training and the test points in one forward, (A, n + n_test, 1), or the training points
        # alone where the test points share their x; the grid, for a frame only, in another, so a
        # loss never depends on whether its snapshot became a frame.
        if self.test_at_train_x:
            pred_train = pred_test = model(t["x_train"])
        else:
            n = t["x_train"].shape[1]
            out = model(torch.cat([t["x_train"], t["x_test"]], dim=1))
            pred_train, pred_test = out[:, :n], out[:, n:]
        all_train, all_test, *acc = _evaluate(pred_train, t["y_train"], pred_test, t["y_test"], self.classify)
        norms = shown.weight_norms().cpu().numpy()
        charted = self.charted
        history.add(it, all_train[:charted], all_test[:charted], norms,
                    **{k: a[:charted] for k, a in zip(ACCURACY_COLUMNS, acc)})
        return _Row(all_train, all_test, ~(np.isfinite(all_train) & np.isfinite(all_test)), norms, shown, *acc)

    @torch.no_grad()
    def snapshot(self, model: StackedMLP, x_grid, t, history: History, it: int, status: str, message: str,
                 start: float, done: int, row: _Row | None = None, shows: frozenset[str] = DETAILS) -> Snapshot:
        """A frame: this iteration's history row (`row`, when `record` made it already) and everything
        charted; of the DETAILS only those in `shows` (weight_hist stays [], net None): no number
        depends on them."""
        row = self.record(model, t, history, it) if row is None else row
        charted, shown = self.charted, row.shown
        hist, net = self.detail and "hist" in shows, self.detail and "net" in shows
        hidden: list[torch.Tensor] | None = [] if net else None  # unit outputs, for the network view
        grid_pred = shown(x_grid.expand(charted, *x_grid.shape), hidden=hidden)
        last = model.last_masks  # the last training step's (M, depth, N, H) 0/1 masks
        masks, drop_rate = _kept(last, charted)
        elapsed = time.perf_counter() - start
        logits = grid_pred[..., 0]  # (M, G): the predictions, or for 2-D the logits
        snap = Snapshot(
            iteration=it, total=self.config.epochs, status=status, message=message, ps=self.ps, seeds=self.seeds,
            train_loss=row.all_train[:charted], test_loss=row.all_test[:charted], history=history.arrays(),
            x_grid=(x_grid if self.classify else x_grid[:, 0]).cpu().numpy(), pred=logits.cpu().numpy(),
            masks=masks, drop_rate=drop_rate, weight_norm=row.norms, all_ps=self.all_ps, all_seeds=self.all_seeds,
            all_train_loss=row.all_train, all_test_loss=row.all_test, all_diverged=row.all_diverged,
            diverged=row.all_diverged[:charted],
            its_per_sec=done / elapsed if elapsed > 0 else 0.0, elapsed=elapsed,
            device=str(self.device), device_note=self.device_note, data=self.data)
        if self.classify:
            resolution = len(self.grid_axis)
            snap.task, snap.grid_axis = "classification", self.grid_axis
            snap.prob = torch.sigmoid(logits).view(charted, resolution, resolution).cpu().numpy()  # row-major grid
            snap.all_train_acc, snap.all_test_acc = row.all_train_acc, row.all_test_acc
            snap.train_acc, snap.test_acc = row.all_train_acc[:charted], row.all_test_acc[:charted]
        if hist:
            snap.weight_hist = _histograms(shown.params()[::2])
        if net:
            snap.net = net_view(self.net_units, shown.sizes, shown.params()[::2], hidden, grid_pred,
                                last[:charted] if last is not None else None, snap.x_grid)
        if self.detail and self.config.mc_samples and not self.classify:  # the band is drawn over x: 1-D only
            snap.mc_x, snap.mc_mean, snap.mc_std = _mc_band(shown, self.config.mc_samples, self.mc_generators)
        return snap

    def _charted_model(self, model: StackedMLP) -> StackedMLP:
        """The charted models' own StackedMLP with their weights copied in (each layer's first
        `charted` models: (charted, fan_in, fan_out)); the model itself when it needs no copy."""
        if self.charted_model is None:
            return model
        for mine, theirs in zip(self.charted_model.params(), model.params()):
            mine.detach().copy_(theirs[:self.charted])
        return self.charted_model.eval()


def _evaluate(pred_train: torch.Tensor, y_train: torch.Tensor, pred_test: torch.Tensor, y_test: torch.Tensor,
              classify: bool = False) -> list[np.ndarray]:
    """Each model's loss on its training points and on its test points, (A,) each: the MSE, or with
    `classify` the BCE of the logits, followed by the two accuracies; one read-back."""
    pairs = ((pred_train, y_train), (pred_test, y_test))
    rows = [losses_per_model(pred, y, "bce" if classify else "mse") for pred, y in pairs]
    if classify:
        rows += [accuracy(pred, y) for pred, y in pairs]
    return list(torch.stack(rows).cpu().numpy())


def _kept(masks: torch.Tensor | None, charted: int) -> tuple[np.ndarray, np.ndarray]:
    """The charted models' keep masks, (M, depth, N, H) uint8, 1 = kept, from a training step's
    (A, depth, N, H) masks; and the share of units each layer dropped, (M, depth). Empty before
    the first step (masks None)."""
    if masks is None:
        return np.zeros((charted, 0, 0, 0), np.uint8), np.zeros((charted, 0))
    kept = (masks[:charted] > 0).view(torch.uint8).cpu().numpy()  # a bool's byte is 0 or 1: no conversion
    return kept, 1 - kept.mean(axis=(2, 3))


def _histograms(tensors: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer: counts (M, bins) over edges shared by all models, so their histograms compare.

    Counted as torch.histc would count each row (values outside the finite range are left out, the
    top edge counts in the last bin), with few ops, for speed (they were a third of a frame's
    snapshot): one read-back of every layer's range; per layer one bincount over bin indices
    offset by row (row m counts in bins m·B…; a non-finite value one past the last, then dropped).
    """
    flats = [w.detach().flatten(1) for w in tensors]  # (M, weights of layer l)
    n_models = flats[0].shape[0]
    ranges = torch.stack([v for flat in flats for v in torch.aminmax(flat)]).view(-1, 2).tolist()
    rows = torch.arange(0, n_models * HIST_BINS, HIST_BINS, dtype=torch.int32, device=flats[0].device).unsqueeze(1)
    dropped = n_models * HIST_BINS  # the bin of the non-finite values
    counts, edges = [], []
    for flat, (lo, hi) in zip(flats, ranges):
        finite = None
        if not (math.isfinite(lo) and math.isfinite(hi)):  # a diverged model: count its finite values only
            finite = torch.isfinite(flat)
            kept = flat[finite]
            lo, hi = (kept.min().item(), kept.max().item()) if kept.numel() else (-1.0, 1.0)
        if not hi > lo:
            lo, hi = lo - 1e-3, hi + 1e-3
        bins = (flat - lo).mul_(HIST_BINS / (hi - lo))
        if finite is not None:
            bins.nan_to_num_(0.0)
        index = bins.clamp_(0, HIST_BINS - 1).to(torch.int32).add_(rows)
        if finite is not None:
            index.masked_fill_(~finite, dropped)
        counts.append(torch.bincount(index.view(-1), minlength=dropped + 1)[:dropped])
        edges.append((lo, hi))
    counts = torch.stack(counts).view(len(flats), n_models, HIST_BINS).float().cpu().numpy()
    return list(zip(counts, _linspaces(*np.array(edges).T, HIST_BINS + 1)))


def _linspaces(starts: np.ndarray, stops: np.ndarray, num: int) -> np.ndarray:
    """np.linspace(start, stop, num) for each start and stop, (len(starts), num), in three numpy ops
    (the same numbers: np.linspace's own formula)."""
    grid = starts[:, None] + np.arange(num) * ((stops - starts) / (num - 1))[:, None]
    grid[:, -1] = stops
    return grid


def _mc_band(model: StackedMLP, samples: int, generators: list[torch.Generator]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MC dropout: predictions with `samples` random masks kept on at test time; mean and std."""
    x = torch.linspace(-1.2, 1.2, MC_GRID, device=model.p.device).unsqueeze(1)
    kept = model.last_masks  # forward() overwrites it; the snapshot's masks are the training step's
    model.train()  # dropout on, on purpose
    preds = model(x.repeat(samples, 1), generators=generators)[..., 0].view(model.n_models, samples, MC_GRID)
    model.eval()
    model.last_masks = kept
    return x[:, 0].cpu().numpy(), preds.mean(1).cpu().numpy(), preds.std(1).cpu().numpy()


def final_metrics(snap: Snapshot) -> dict:
    """Final train and test loss (and for 2-D accuracy) of every model trained (the lab's further
    seeds too), as plain JSON-ready numbers (NaN becomes None)."""
    def num(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None
    return {
        "iteration": snap.iteration, "status": snap.status, "message": snap.message,
        "models": [{"p": float(p), "seed": int(s), "train_loss": num(tr), "test_loss": num(te), **accuracies(snap, m)}
                   for m, (p, s, tr, te) in enumerate(zip(snap.all_ps, snap.all_seeds, snap.all_train_loss,
                                                          snap.all_test_loss))],
        "iterations_per_second": round(snap.its_per_sec, 1), "device": snap.device,
    }


def accuracies(snap: Snapshot, m: int) -> dict[str, float]:
    """Model m's (of all A) train and test accuracy, for a classification snapshot; {} for regression."""
    if snap.all_train_acc is None:
        return {}
    return {"train_acc": float(snap.all_train_acc[m]), "test_acc": float(snap.all_test_acc[m])}
