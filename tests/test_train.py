"""The training loop: snapshot shapes and plain data, determinism, sweeps, divergence, devices, memory."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.data import GRID_POINTS
from dropviz.devices import resolve_device
from dropviz.history import MAX_POINTS
from dropviz.train import HIST_BINS, MC_GRID, OPTIMIZERS, Snapshot, _histograms, final_metrics, run, sweep

SMALL = LabConfig(width=8, depth=2, epochs=30, snapshot_every=10, dataset="sine", n_points=12, device="cpu")


def last(snapshots):
    snap = None
    for snap in snapshots:
        pass
    return snap


def walk(value, path="snapshot"):
    """Every leaf of a snapshot, with its path; fails on anything that is not plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), path
            yield from walk(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, value


def assert_plain(snap: Snapshot) -> None:
    leaves = list(walk(snap))
    assert leaves
    for path, value in leaves:
        assert not isinstance(value, torch.Tensor), path
        assert value is None or isinstance(value, (np.ndarray, np.generic, int, float, str, bool)), (path, type(value))
        if isinstance(value, np.ndarray):
            assert value.dtype != object, path


@pytest.fixture(scope="module")
def small_run():
    return list(run(SMALL.with_(mc_samples=4)))


# --- snapshots -------------------------------------------------------------------------------------

def test_snapshots_arrive_at_the_interval_and_end_done(small_run):
    trained = [s for s in small_run if s.iteration > 0]
    assert [s.iteration for s in trained] == [10, 20, 30]
    assert [s.status for s in small_run[:-1]] == ["running"] * (len(small_run) - 1)
    final = small_run[-1]
    assert final.status == "done" and final.finished and final.message
    assert final.iteration == final.total == SMALL.epochs
    assert not any(s.finished for s in small_run[:-1])
    assert all(s.iteration >= 0 for s in small_run) and small_run[0].iteration in (0, 10)


def test_snapshot_shapes(small_run):
    M, depth, N, H, layers = 2, SMALL.depth, SMALL.n_points, SMALL.width, SMALL.depth + 1
    for k, s in enumerate(small_run):
        assert s.ps.tolist() == [0.0, SMALL.p] and s.seeds.tolist() == [SMALL.seed] * 2
        assert s.train_loss.shape == (M,) and s.test_loss.shape == (M,)
        assert s.x_grid.shape == (GRID_POINTS,) and s.pred.shape == (M, GRID_POINTS)
        assert s.weight_norm.shape == (layers, M)
        assert s.diverged.shape == (M,) and not s.diverged.any()
        h = s.history
        K = len(h["iteration"])
        assert K == k + 1  # one row per snapshot so far (far below the bound)
        assert h["train"].shape == (K, M) and h["test"].shape == (K, M) and h["weight_norm"].shape == (K, layers, M)
        np.testing.assert_array_equal(h["train"][-1], s.train_loss)
        assert len(s.weight_hist) == layers
        for counts, edges in s.weight_hist:
            assert counts.shape == (M, HIST_BINS) and edges.shape == (HIST_BINS + 1,)
        sizes = [1 * H] + [H * H] * (depth - 1) + [H * 1]
        for (counts, _), size in zip(s.weight_hist, sizes):  # every weight of every model is counted
            assert counts.sum(axis=1).tolist() == [size] * M
        assert s.mc_x.shape == (MC_GRID,) and s.mc_mean.shape == (M, MC_GRID) and s.mc_std.shape == (M, MC_GRID)
        if s.iteration > 0:  # masks of the training step just taken
            assert s.masks.shape == (M, depth, N, H) and s.masks.dtype == np.uint8
            assert set(np.unique(s.masks)) <= {0, 1}
            assert s.drop_rate.shape == (M, depth)
            np.testing.assert_allclose(s.drop_rate, 1 - s.masks.mean(axis=(2, 3)))


def test_snapshots_are_plain_data(small_run):
    for s in small_run:
        assert_plain(s)
    assert small_run[-1].data is not None and isinstance(small_run[-1].data.x_train, np.ndarray)


def test_snapshots_do_not_share_mutable_history(small_run):
    assert len(small_run[0].history["iteration"]) < len(small_run[-1].history["iteration"])


def test_weight_histograms_count_each_model_as_torch_histc():
    """_histograms counts all models of all layers with a few ops: as torch.histc would count each
    model's weights over the layer's finite range, edges and all."""
    gen = torch.Generator().manual_seed(3)
    layers = [torch.randn(3, 1, 50, generator=gen), 0.1 * torch.randn(3, 50, 50, generator=gen),
              torch.full((3, 50, 1), 0.25)]  # a layer of one value: its range is widened by 1e-3
    layers[1][2, 0, :5] = float("nan")  # a diverged model: only the finite values are counted
    layers[1][1, 3, 3] = float("inf")
    histograms = _histograms(layers)
    assert len(histograms) == len(layers)
    for w, (counts, edges) in zip(layers, histograms):
        flat = w.flatten(1)
        finite = flat[torch.isfinite(flat)]
        lo, hi = finite.min().item(), finite.max().item()
        lo, hi = (lo - 1e-3, hi + 1e-3) if lo == hi else (lo, hi)
        np.testing.assert_array_equal(edges, np.linspace(lo, hi, HIST_BINS + 1))
        assert counts.shape == (3, HIST_BINS)
        for row, model_counts in zip(flat, counts):
            np.testing.assert_array_equal(model_counts, torch.histc(row[torch.isfinite(row)], HIST_BINS, lo, hi).numpy())
    assert histograms[1][0].sum(axis=1).tolist() == [2500, 2499, 2495]


def test_drop_rates_of_the_captured_masks():
    snaps = [s for s in run(LabConfig(width=200, depth=3, epochs=4, snapshot_every=1, p=0.3, device="cpu"))
             if s.iteration > 0]
    units = 10 * 200  # source preset: 10 points × 200 units per layer
    for s in snaps:
        assert np.all(s.drop_rate[0] == 0)
        assert np.all(np.abs(s.drop_rate[1] - 0.3) < 5 * np.sqrt(0.3 * 0.7 / units))
    assert not np.array_equal(snaps[0].masks, snaps[1].masks)  # fresh masks every iteration


def test_final_metrics_are_json_ready(small_run):
    metrics = final_metrics(small_run[-1])
    json.dumps(metrics, allow_nan=False)
    assert [m["p"] for m in metrics["models"]] == [0.0, SMALL.p]
    assert metrics["models"][1]["test_loss"] == pytest.approx(float(small_run[-1].test_loss[1]))


# --- determinism and the side-by-side pair -----------------------------------------------------------

def test_same_config_same_run():
    a, b = list(run(SMALL)), list(run(SMALL))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.train_loss, y.train_loss)
        np.testing.assert_array_equal(x.test_loss, y.test_loss)
        np.testing.assert_array_equal(x.pred, y.pred)
        np.testing.assert_array_equal(x.masks, y.masks)


def test_different_seed_different_run():
    a, b = last(run(SMALL)), last(run(SMALL.with_(seed=2)))
    assert not np.array_equal(a.train_loss, b.train_loss)


def test_baseline_and_dropout_model_start_from_the_same_weights():
    """With p = 0 both models are the same net on the same data: they stay identical."""
    s = last(run(SMALL.with_(p=0.0)))
    np.testing.assert_array_equal(s.pred[0], s.pred[1])
    np.testing.assert_array_equal(s.history["train"][:, 0], s.history["train"][:, 1])
    s = last(run(SMALL))
    assert not np.array_equal(s.pred[0], s.pred[1])


def test_training_reduces_the_loss():
    s = last(run(LabConfig(width=32, depth=2, epochs=300, snapshot_every=300, device="cpu")))
    first, final = s.history["train"][0], s.history["train"][-1]
    assert np.all(final < first)


@pytest.mark.parametrize("name,reference", [
    ("sgd", lambda ps, c: torch.optim.SGD(ps, lr=c.lr, momentum=0.9, weight_decay=c.weight_decay)),  # the source's
    ("adam", lambda ps, c: torch.optim.Adam(ps, lr=c.lr, weight_decay=c.weight_decay)),
])
def test_optimizers_step_like_torch_optim(name, reference):
    """Whatever implements them, the steps are those of torch.optim's SGD(momentum 0.9) and Adam."""
    config = LabConfig(lr=0.01, weight_decay=0.001, optimizer=name)
    start = torch.randn(50, generator=torch.Generator().manual_seed(0))
    ours, ref = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    opt, ref_opt = OPTIMIZERS[name]([ours], config), reference([ref], config)
    for k in range(5):
        grad = torch.randn(50, generator=torch.Generator().manual_seed(k + 1))
        ours.grad, ref.grad = grad.clone(), grad.clone()
        opt.step()
        ref_opt.step()
    assert not torch.equal(ours.detach(), start)
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=1e-6, atol=1e-7)


def test_sgd_is_the_source_optimizer():
    """"sgd" is FlatSGD (torch.optim.SGD's fused kernel without torch.optim's Python), momentum 0.9."""
    from dropviz.fast_step import FlatSGD

    opt = OPTIMIZERS["sgd"]([torch.nn.Parameter(torch.zeros(3))], LabConfig(lr=0.02))
    assert isinstance(opt, FlatSGD)
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["lr"] == 0.02


@pytest.mark.parametrize("optimizer,variant", [("adam", "vanilla"), ("sgd", "torch")])
def test_other_optimizers_and_variants_run(optimizer, variant):
    s = last(run(SMALL.with_(optimizer=optimizer, variant=variant, weight_decay=0.01)))
    assert s.status == "done" and np.isfinite(s.test_loss).all()


# --- sweeps ------------------------------------------------------------------------------------------------

def test_sweep_entries_match_single_runs():
    config = LabConfig(width=16, depth=2, epochs=40, snapshot_every=40, dataset="linear", device="cpu")
    ps, seeds = [0.0, 0.5, 0.3], [1, 2]
    s = last(sweep(config, ps, seeds))
    assert s.status == "done"
    assert s.ps.tolist() == pytest.approx([p for p in ps for _ in seeds])  # p-major order
    assert s.seeds.tolist() == [seed for _ in ps for seed in seeds]
    for i, p in enumerate(ps):
        for j, seed in enumerate(seeds):
            k = i * len(seeds) + j
            single = last(run(config.with_(p=p, seed=seed)))
            m = 1 if p else 0
            for name in ("train_loss", "test_loss"):
                np.testing.assert_allclose(getattr(s, name)[k], getattr(single, name)[m], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(s.pred[k], single.pred[m], rtol=1e-4, atol=1e-5)


# --- divergence, devices ------------------------------------------------------------------------------------

def test_huge_learning_rate_ends_diverged_without_an_exception():
    config = LabConfig(lr=10.0, width=16, depth=2, epochs=500, snapshot_every=10, dataset="linear", device="cpu")
    snaps = list(run(config))
    final = snaps[-1]
    assert final.status == "diverged" and final.finished
    assert "learning rate" in final.message and "10" in final.message
    assert final.iteration < config.epochs
    assert final.diverged.all()
    assert all(s.status == "running" for s in snaps[:-1])
    metrics = final_metrics(final)
    json.dumps(metrics, allow_nan=False)  # NaN losses become None, not invalid JSON


def test_a_sweep_names_each_diverged_p_once():
    # At this learning rate the p = 0.5 and p = 0.9 models diverge for both seeds, p = 0 does not.
    config = LabConfig(lr=0.2, width=200, depth=2, epochs=300, snapshot_every=50, dataset="linear", device="cpu")
    final = last(sweep(config, ps=[0.0, 0.5, 0.9], seeds=[1, 2]))
    assert final.diverged.any() and not final.diverged.all(), final.diverged  # the settings must split the sweep
    named = [f"p={p:g}" for p in sorted({float(p) for p in final.ps[final.diverged]})]
    assert all(final.message.count(name + " ") + final.message.count(name + ",") == 1 for name in named), final.message
    assert f"by iteration {final.iteration}" in final.message


def test_cuda_request_falls_back_with_a_note():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    device, note = resolve_device("cuda")
    assert device.type == "cpu" and "CUDA" in note
    s = last(run(SMALL.with_(device="cuda")))
    assert s.status == "done" and s.device == "cpu" and "CUDA" in s.device_note
    assert resolve_device("cpu") == (torch.device("cpu"), "")
    assert resolve_device("auto")[1] == ""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_cpu():
    gpu = last(run(SMALL.with_(device="cuda", mc_samples=3)))
    cpu = last(run(SMALL.with_(device="cpu", mc_samples=3)))
    assert gpu.device.startswith("cuda") and gpu.device_note == "" and gpu.status == "done"
    assert_plain(gpu)
    assert np.isfinite(gpu.test_loss).all()
    # The p = 0 model draws no masks: the same initial weights (drawn on the CPU) and data train it
    # alike on either device, to float rounding. The dropout model's masks come from the device's
    # own generator (other random numbers than the CPU's), so only its shape of results is shared.
    np.testing.assert_allclose(gpu.history["train"][:, 0], cpu.history["train"][:, 0], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(gpu.pred[0], cpu.pred[0], rtol=1e-3, atol=1e-5)
    assert gpu.masks.shape == cpu.masks.shape and 0 < gpu.drop_rate[1].mean() < 1


# --- MC dropout band --------------------------------------------------------------------------------------------

def test_mc_band_has_spread_only_with_dropout():
    s = last(run(SMALL.with_(mc_samples=16)))
    assert s.mc_std.shape == (2, MC_GRID)
    np.testing.assert_allclose(s.mc_std[0], 0, atol=1e-5)  # p = 0: every mask is the same net
    assert np.all(s.mc_std[1] >= 0) and s.mc_std[1].mean() > 1e-3
    assert np.isfinite(s.mc_mean).all()


def test_mc_band_is_off_by_default():
    s = last(run(SMALL))
    assert s.mc_x is None and s.mc_mean is None and s.mc_std is None


def test_mc_band_zero_spread_when_p_is_zero():
    s = last(run(SMALL.with_(p=0.0, mc_samples=8)))
    np.testing.assert_allclose(s.mc_std, 0, atol=1e-5)


def test_the_mc_band_does_not_change_the_run_it_shows():
    """The band samples masks on a copy of the charted models: on the training model it restarted
    the masks drawn ahead, and the dropout model trained on other masks than without the band."""
    plain, banded = last(run(SMALL.with_(snapshot_every=5))), last(run(SMALL.with_(snapshot_every=5, mc_samples=3)))
    np.testing.assert_array_equal(plain.test_loss, banded.test_loss)
    np.testing.assert_array_equal(plain.pred, banded.pred)


def test_masks_after_the_mc_band_are_still_the_training_masks():
    control = Control()
    snaps = run(SMALL.with_(mc_samples=3), control)
    first = next(s for s in snaps if s.iteration > 0)
    control.cancel()
    cancelled = next(snaps)
    assert cancelled.status == "cancelled" and cancelled.iteration == first.iteration
    assert cancelled.masks.shape == first.masks.shape
    np.testing.assert_array_equal(cancelled.masks, first.masks)


# --- memory bound ------------------------------------------------------------------------------------------------

def test_long_run_keeps_a_bounded_evenly_spaced_history():
    epochs = 3 * MAX_POINTS
    config = LabConfig(width=2, depth=1, epochs=epochs, snapshot_every=1, dataset="linear", device="cpu")
    longest = 0
    for s in sweep(config, [0.5], [1]):  # no histograms: only the history grows
        longest = max(longest, len(s.history["iteration"]))
        assert len(s.history["iteration"]) <= MAX_POINTS
    assert s.status == "done" and s.iteration == epochs
    its = s.history["iteration"]
    assert MAX_POINTS // 2 <= len(its) <= MAX_POINTS and longest == MAX_POINTS
    steps = np.diff(its)
    assert np.all(steps == steps[0]) and steps[0] > 1  # evenly spaced, thinned
    assert its[0] <= 1  # first row kept
    assert its[-1] > epochs - steps[0]  # reaches the end of the run
    assert s.history["train"].shape == (len(its), 1)


# --- the lab's seeds: a pair per seed in one run ------------------------------------------------------------

def recorded_models(monkeypatch) -> list:
    """Every StackedMLP train.py makes from now on, in order (the training model comes first)."""
    from dropviz import train as train_module
    from dropviz.model import StackedMLP

    made = []

    class Recording(StackedMLP):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(train_module, "StackedMLP", Recording)
    return made


def test_models_are_the_pair_for_each_seed_the_configs_own_first():
    assert LabConfig(p=0.3, seed=7, n_seeds=3).models() == [(0.0, 7), (0.3, 7), (0.0, 8), (0.3, 8), (0.0, 9), (0.3, 9)]
    assert LabConfig(seed=5).models() == [(0.0, 5), (0.5, 5)]  # one seed: the pair, as ever
    top = 2**31 - 1  # the last valid seed: the next ones wrap to 0, 1, … and stay valid seeds
    assert [s for _, s in LabConfig(seed=top, n_seeds=3).models()] == [top, top, 0, 0, 1, 1]


@pytest.mark.parametrize("changes", [dict(mc_samples=3), dict(optimizer="adam", variant="vanilla", weight_decay=0.01)])
def test_the_charted_pair_of_a_several_seed_run_is_the_one_seed_run_bit_for_bit(monkeypatch, changes):
    """The models of one seed share its generator and nothing else: batched with other seeds, the
    config's own pair has the same weights, losses, masks, curves and statistics as alone."""
    made = recorded_models(monkeypatch)
    config = SMALL.with_(snapshot_every=5, **changes)
    one = list(run(config))
    alone = made[0]
    made.clear()
    three = list(run(config.with_(n_seeds=3)))
    together = made[0]
    assert together.n_models == 6 and alone.n_models == 2
    for wa, wb in zip(alone.params(), together.params()):
        assert torch.equal(wa, wb[:2])
    assert not torch.equal(together.params()[0][2:4], together.params()[0][:2])  # the other seeds' own weights
    assert len(one) == len(three)
    for a, b in zip(one, three):
        for name in ("train_loss", "test_loss", "pred", "masks", "drop_rate", "weight_norm", "diverged", "mc_mean", "mc_std"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        for key in a.history:
            np.testing.assert_array_equal(a.history[key], b.history[key], err_msg=key)
        for (counts_a, edges_a), (counts_b, edges_b) in zip(a.weight_hist, b.weight_hist, strict=True):
            np.testing.assert_array_equal(counts_a, counts_b)
            np.testing.assert_array_equal(edges_a, edges_b)
        np.testing.assert_array_equal(b.all_test_loss[:2], a.test_loss)


def test_each_further_seed_is_that_seeds_own_run():
    three = last(run(SMALL.with_(n_seeds=3)))
    assert three.all_seeds.tolist() == [1, 1, 2, 2, 3, 3]
    assert three.all_ps.tolist() == [0.0, SMALL.p] * 3
    for k in (1, 2):
        alone = last(run(SMALL.with_(seed=SMALL.seed + k)))
        np.testing.assert_array_equal(three.all_train_loss[2 * k:2 * k + 2], alone.train_loss)
        np.testing.assert_array_equal(three.all_test_loss[2 * k:2 * k + 2], alone.test_loss)
    assert not np.array_equal(three.all_test_loss[2:4], three.all_test_loss[:2])  # other seeds, other numbers
    assert not np.array_equal(three.all_test_loss[2:4], three.all_test_loss[4:6])


def test_further_seeds_add_only_their_losses_to_a_snapshot():
    """Predictions, masks, norms, histograms and the MC band are the charted pair's alone."""
    M, A, layers = 2, 8, SMALL.depth + 1
    snaps = list(run(SMALL.with_(n_seeds=4, mc_samples=3)))
    for s in snaps:
        assert s.ps.tolist() == [0.0, SMALL.p] and s.seeds.tolist() == [SMALL.seed] * M
        assert s.train_loss.shape == s.test_loss.shape == s.diverged.shape == (M,)
        assert s.pred.shape == (M, GRID_POINTS) and s.weight_norm.shape == (layers, M)
        assert s.mc_mean.shape == s.mc_std.shape == (M, MC_GRID)
        assert all(counts.shape == (M, HIST_BINS) for counts, _ in s.weight_hist)
        assert s.history["train"].shape[1] == s.history["test"].shape[1] == M and s.history["weight_norm"].shape[2] == M
        if s.iteration:
            assert s.masks.shape[0] == M and s.drop_rate.shape[0] == M
        for name in ("all_ps", "all_seeds", "all_train_loss", "all_test_loss", "all_diverged"):
            assert getattr(s, name).shape == (A,), name
        np.testing.assert_array_equal(s.all_train_loss[:M], s.train_loss)
        assert_plain(s)


def test_final_metrics_list_every_seeds_models():
    metrics = final_metrics(last(run(SMALL.with_(n_seeds=3))))
    json.dumps(metrics, allow_nan=False)
    assert [(m["p"], m["seed"]) for m in metrics["models"]] == SMALL.with_(n_seeds=3).models()


def test_a_several_seed_run_diverges_when_every_seed_has():
    config = LabConfig(lr=10.0, width=16, depth=2, epochs=500, snapshot_every=10, dataset="linear", device="cpu", n_seeds=2)
    final = last(run(config))
    assert final.status == "diverged" and final.all_diverged.all() and final.iteration < config.epochs
    assert "learning rate" in final.message
