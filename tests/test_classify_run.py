"""2-D classification through the whole lab (issue 14 part 2): settings, data, the training loop's
snapshots (heatmap, accuracies, history), both backends, mini-batches and L1 in a run, the view
independence and the frame stride with a heatmap, the budget and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from dropviz import cli, data2d
from dropviz.budget import run_cost
from dropviz.config import DATASETS_2D, NOISE_MAX_2D, LabConfig
from dropviz.control import Control
from dropviz.data import GRID_2D, make_dataset, split_sizes
from dropviz.history import History
from dropviz.model import StackedMLP
from dropviz.train import final_metrics, run, train_models
from tests.test_view_independence import OTHERS, apply, check

# Small: a run takes a fraction of a second. 60 points, 40 % (24) for training, 36 for testing.
SMALL = LabConfig(dataset="moons", n_points=60, noise=0.2, ratio=40, width=12, depth=2, epochs=30, snapshot_every=10,
                  lr=0.05, device="cpu")
M, R = 2, GRID_2D


@pytest.fixture(scope="module")
def small_run():
    return list(run(SMALL))


# --- settings and data -------------------------------------------------------------------------------------

def test_the_settings_name_the_datasets_data2d_makes():
    assert DATASETS_2D == data2d.DATASETS_2D and NOISE_MAX_2D == data2d.MAX_NOISE
    assert data2d.DEFAULT_RATIO * 100 == LabConfig().ratio  # Playground's 50 %


@pytest.mark.parametrize("dataset", DATASETS_2D)
def test_make_dataset_gives_playgrounds_points_split_by_ratio(dataset):
    config = SMALL.with_(dataset=dataset, seed=4)
    points = make_dataset(config)
    same = data2d.make_dataset_2d(dataset, 4, n_points=60, noise=0.2, ratio=0.4)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(points, name), getattr(same, name))
    assert (len(points.x_train), len(points.x_test)) == split_sizes(config) == (24, 36)
    assert not np.array_equal(make_dataset(config.with_(seed=5)).x_train, points.x_train)


@pytest.mark.parametrize("n_points,ratio", [(2, 10), (2, 90), (7, 50), (500, 30), (11, 90)])
def test_split_sizes_are_the_split_make_dataset_makes(n_points, ratio):
    config = SMALL.with_(n_points=n_points, ratio=ratio)
    points = make_dataset(config)
    assert split_sizes(config) == (len(points.x_train), len(points.x_test))


def test_a_historys_further_columns_are_kept_and_thinned_like_the_losses():
    h = History(max_points=8, extra=("train_acc", "test_acc"))
    assert h.arrays()["train_acc"].shape == (0, 0)
    for i in range(30):
        h.add(i, np.full(2, i), np.full(2, -i), np.zeros((3, 2)), train_acc=np.full(2, i / 100), test_acc=np.full(2, 0.5))
    a = h.arrays()
    np.testing.assert_array_equal(a["train_acc"][:, 0], a["iteration"] / 100)
    assert a["test_acc"].shape == (len(a["iteration"]), 2) and a["iteration"][-1] == 29
    with pytest.raises(ValueError, match="columns"):
        h.add(30, np.zeros(2), np.zeros(2), np.zeros((3, 2)))  # a row without its accuracies


# --- a classification run's snapshots ----------------------------------------------------------------------

def test_a_classification_snapshot_has_the_heatmap_the_accuracies_and_their_history(small_run):
    axis = data2d.Dataset2D.grid(R)[1]
    for k, s in enumerate(small_run):
        assert s.task == "classification"
        np.testing.assert_array_equal(s.grid_axis, axis)
        assert s.x_grid.shape == (R * R, 2) and s.pred.shape == (M, R * R)
        assert s.prob.shape == (M, R, R) and s.prob.dtype == np.float32
        assert s.train_acc.shape == s.test_acc.shape == (M,)
        assert ((0 <= s.test_acc) & (s.test_acc <= 1)).all() and ((0 <= s.train_acc) & (s.train_acc <= 1)).all()
        assert s.mc_x is None  # no MC band over a plane
        h = s.history
        assert h["train_acc"].shape == h["test_acc"].shape == (k + 1, M)
        np.testing.assert_array_equal(h["test_acc"][-1], s.test_acc)
        np.testing.assert_array_equal(h["train"][-1], s.train_loss)
        if s.iteration:
            assert s.masks.shape == (M, SMALL.depth, 24, SMALL.width)  # one mask row per training point


def test_the_heatmap_is_the_sigmoid_of_the_logits_row_by_x2(small_run):
    s = small_run[-1]
    np.testing.assert_allclose(s.prob, 1 / (1 + np.exp(-s.pred.reshape(M, R, R))), rtol=1e-5, atol=1e-6)
    i, j = 7, 41  # prob[m, i, j] is at (x1 = axis[j], x2 = axis[i]), and so is point i·R + j of x_grid
    np.testing.assert_array_equal(s.x_grid[i * R + j], [s.grid_axis[j], s.grid_axis[i]])


def test_the_losses_accuracies_and_heatmap_are_the_eval_mode_models(small_run):
    """The untrained snapshot against the same models built here: BCE of the eval-mode logits (mean
    over points), the share of points on the right side of 0, and P(class 1) on the grid."""
    first = small_run[0]
    assert first.iteration == 0
    points = make_dataset(SMALL)
    model = StackedMLP(list(SMALL.ps), SMALL.width, SMALL.depth, [SMALL.seed] * 2, in_features=2).eval()
    with torch.no_grad():
        for x, y, loss, acc in ((points.x_train, points.y_train, first.train_loss, first.train_acc),
                                (points.x_test, points.y_test, first.test_loss, first.test_acc)):
            logits, y = model(torch.from_numpy(x)), torch.from_numpy(y)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.expand_as(logits), reduction="none")
            np.testing.assert_allclose(loss, bce.mean(dim=(1, 2)).numpy(), rtol=1e-6)
            np.testing.assert_array_equal(acc, ((logits > 0) == (y > 0.5)).float().mean(dim=(1, 2)).numpy())
        grid = torch.sigmoid(model(torch.from_numpy(first.x_grid)))[..., 0].view(M, R, R).numpy()
    np.testing.assert_allclose(first.prob, grid, rtol=1e-6, atol=1e-7)
    assert abs(first.train_loss[0] - math.log(2)) < 0.1  # untrained: near chance


def test_a_classifier_learns_the_moons():
    config = SMALL.with_(n_points=200, noise=0.1, width=32, epochs=300, optimizer="adam", lr=0.01, p=0.2)
    *_, final = run(config)
    assert final.status == "done"
    assert (final.test_acc > 0.85).all(), final.test_acc
    assert final.test_loss[0] < 0.5 * math.log(2)


def test_final_metrics_list_every_models_accuracy():
    config = SMALL.with_(n_seeds=2)
    *_, final = run(config)
    doc = final_metrics(final)
    assert len(doc["models"]) == 4 and all({"train_acc", "test_acc"} <= set(m) for m in doc["models"])
    assert [m["test_acc"] for m in doc["models"][:2]] == final.test_acc.tolist()
    json.dumps(doc, allow_nan=False)
    *_, regression = run(LabConfig(width=4, depth=1, epochs=2, device="cpu"))
    assert regression.train_acc is None and "train_acc" not in final_metrics(regression)["models"][0]


# --- mini-batches and L1 in a run; both backends ----------------------------------------------------------

def final_weights(config: LabConfig, backend: str):
    snaps = list(train_models(config, list(config.ps), [config.seed] * 2, charted=2, backend=backend))
    return snaps[-1]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_both_backends_give_the_same_2d_run(optimizer):
    config = SMALL.with_(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01, batch_size=8, l1=0.001,
                         epochs=60)
    ref, fused = final_weights(config, "reference"), final_weights(config, "fused")
    np.testing.assert_array_equal(ref.masks, fused.masks)
    for name in ("train_loss", "test_loss", "weight_norm"):
        np.testing.assert_allclose(getattr(fused, name), getattr(ref, name), rtol=1e-4, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(fused.prob, ref.prob, atol=1e-4)
    assert abs(fused.test_acc - ref.test_acc).max() <= 1 / 36  # a point on the boundary may flip, no more


def test_mini_batches_and_l1_change_the_run_and_each_step_sees_a_batch():
    plain = list(run(SMALL))[-1]
    batched = list(run(SMALL.with_(batch_size=8)))
    assert batched[-1].masks.shape[2] == 8  # the last step's masks: one row per point of its batch
    assert not np.array_equal(batched[-1].train_loss, plain.train_loss)
    penalised = list(run(SMALL.with_(l1=0.03, epochs=100)))[-1]
    free = list(run(SMALL.with_(epochs=100)))[-1]
    assert (penalised.weight_norm < free.weight_norm).all()  # L1 pulls the weights in


def test_a_1d_run_takes_mini_batches_and_l1_too():
    config = LabConfig(dataset="sine", n_points=20, width=8, depth=2, epochs=20, snapshot_every=5, batch_size=5,
                       l1=0.01, device="cpu")
    *_, final = run(config)
    assert final.status == "done" and final.masks.shape[2] == 5 and final.task == "regression"
    assert final.prob is None and final.train_acc is None and "train_acc" not in final.history


# --- how a 2-D run is watched never changes its numbers -----------------------------------------------------

TWO_D_FIELDS = ("prob", "train_acc", "test_acc", "all_train_acc", "all_test_acc")
WATCHED = SMALL.with_(width=8, epochs=24, snapshot_every=1, p=0.4, batch_size=6, l1=0.001)


def watched(config: LabConfig, ops: list) -> list:
    """The snapshots of `run(config, control)` stepped with test_view_independence's ops (`apply`)."""
    control, pending = Control(), list(ops)
    others = [run(other, Control()) for other in OTHERS]
    snaps = []
    for item in run(config, control):
        if item is not None:
            snaps.append(item)
        control.slice_end = math.inf
        if pending:
            apply(pending.pop(0), control, others)
        elif item is None:
            control.resume()
    return snaps


@pytest.mark.parametrize("ops", [
    [],
    [("stride", 3), ("step", 5), ("pause",), ("step", 1), ("slice",), ("others", 2), ("resume",)],
    [("others", 3)] * 4,
])
@pytest.mark.parametrize("snapshot_every,n_seeds", [(1, 1), (5, 2)])
def test_a_2d_runs_numbers_do_not_depend_on_how_it_is_watched(ops, snapshot_every, n_seeds):
    """tests/test_view_independence's property with a heatmap grid beside the losses: its losses,
    masks, norms, histograms and history (check), and the heatmap and accuracies here."""
    config = WATCHED.with_(snapshot_every=snapshot_every, n_seeds=n_seeds, mc_samples=5)
    check(config, ops)
    reference = {snap.iteration: snap for snap in run(config.with_(snapshot_every=1, mc_samples=0))}
    for snap in watched(config, ops):
        for name in TWO_D_FIELDS:
            np.testing.assert_array_equal(getattr(snap, name), getattr(reference[snap.iteration], name), err_msg=name)
        for key in ("train_acc", "test_acc"):
            ref_history = reference[snap.iteration].history
            rows = np.searchsorted(ref_history["iteration"], snap.history["iteration"])
            np.testing.assert_array_equal(snap.history[key], ref_history[key][rows], err_msg=key)


@pytest.mark.parametrize("stride", [2, 3])
def test_a_frame_stride_keeps_a_2d_runs_numbers(stride):
    config = SMALL.with_(epochs=130, n_seeds=2)
    control = Control()
    control.frame_stride = stride
    thinned = [s for s in run(config, control) if s is not None]
    every = {s.iteration: s for s in run(config)}
    assert [s.iteration for s in thinned] == [0, *range(10 * stride, 130, 10 * stride), 130]
    for snap in thinned:
        for name in ("train_loss", "test_loss", "prob", "test_acc", "all_test_acc", "masks"):
            np.testing.assert_array_equal(getattr(snap, name), getattr(every[snap.iteration], name), err_msg=name)
    for key, column in every[130].history.items():
        np.testing.assert_array_equal(thinned[-1].history[key], column, err_msg=key)


# --- the budget and the command line ---------------------------------------------------------------------

def test_a_2d_run_pays_for_its_heatmap_grid_at_every_frame():
    one_d = LabConfig(dataset="linear", n_points=50, width=64, depth=3, epochs=1000)
    two_d = one_d.with_(dataset="circle", n_points=100, noise=0.2)  # 50 training points, as the line's 50
    cost_1d, cost_2d = run_cost(one_d), run_cost(two_d)
    assert cost_2d.train_gflop == pytest.approx(cost_1d.train_gflop, rel=0.02)  # one more input weight per unit
    # Per frame and model 2,500 grid points against the curve's 120 (and 250 points against 100 for the losses).
    assert cost_2d.snapshot_gflop > 5 * cost_1d.snapshot_gflop
    assert run_cost(two_d.with_(mc_samples=50)) == cost_2d  # no MC band in 2-D
    assert run_cost(two_d.with_(batch_size=10)).train_gflop == pytest.approx(cost_2d.train_gflop / 5, rel=0.02)
    assert run_cost(two_d.with_(snapshot_every=1)).memory_bytes > 0


def test_the_cli_runs_a_2d_dataset_and_prints_accuracy(capsys, tmp_path):
    out_path = tmp_path / "run.json"
    argv = ["run", "--dataset", "spiral", "--n-points", "80", "--noise", "0.1", "--ratio", "30", "--batch-size", "8",
            "--l1", "0.001", "--width", "8", "--depth", "2", "--epochs", "20", "--device", "cpu", "--out", str(out_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "spiral data (80 points: 24 for training, 56 for testing, noise 0.1)" in out, out
    assert "2-8-8-1" in out and "batches of 8" in out and "L1 0.001" in out
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert "train acc" in header and "test acc" in header
    assert "%" in next(line for line in out.splitlines() if line.startswith("baseline"))
    doc = json.loads(out_path.read_text())
    assert "test_acc" in doc["final"]["models"][0] and "test_acc" in doc["history"]


def test_the_cli_refuses_a_2d_noise_past_playgrounds_range(capsys):
    assert cli.main(["run", "--dataset", "xor", "--noise", "0.8", "--epochs", "2"]) == 2
    assert "noise=0.8: must be 0 ≤ value ≤ 0.5 for the 2-D dataset xor" in capsys.readouterr().err


def test_the_seeds_command_tallies_a_2d_preset(capsys):
    argv = ["seeds", "--presets", "boundary", "--no-grid", "--seeds", "1,2,3", "--epochs", "30", "--width", "8",
            "--n-points", "60", "--markdown"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| boundary"))
    assert "xor, 60 points: 30 for training, 30 for testing, noise 0.4" in row and " of 3 seeds" in row
    assert "for 2-D data the cross-entropy" in out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_2d_cuda_run_matches_cpu():
    """As test_train's CUDA test: the p = 0 model draws no masks, so it trains alike on either device
    (mini-batches come from CPU generators on both)."""
    config = SMALL.with_(batch_size=8, l1=0.001, epochs=60)
    *_, gpu = run(config.with_(device="cuda"))
    *_, cpu = run(config)
    assert gpu.device.startswith("cuda") and gpu.status == "done"
    np.testing.assert_allclose(gpu.history["train"][:, 0], cpu.history["train"][:, 0], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(gpu.prob[0], cpu.prob[0], atol=1e-3)
    assert gpu.prob.shape == (M, R, R) and gpu.test_acc.shape == (M,)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_2d_run_whose_frames_cost_too_much_is_told_to_raise_the_speed_not_the_mc_samples(lang):
    from dropviz.budget import budget_problem
    from dropviz.i18n import translator

    config = LabConfig(dataset="xor", width=64, depth=3, n_points=500, epochs=20_000, snapshot_every=1)
    refusal = budget_problem(config)
    assert refusal.key == "snapshots_2d" and refusal.fields["grid"] == "2,500"
    text = translator(lang)(f"budget.{refusal.key}", **refusal.fields)
    assert "2,500" in text and refusal.fields["snapshots"] in text and "MC" not in text
    assert budget_problem(config.with_(snapshot_every=20)) is None  # fewer frames: it fits


def test_the_memory_estimate_covers_a_2d_run_with_its_grid():
    """As test_budget's: the peak memory a 2-D run adds (its 2,500-point grid forward at each frame
    with the network view's unit outputs) stays under the estimate."""
    import os
    import subprocess
    import sys

    from tests.test_budget import MEASURE

    fields = dict(dataset="circle", noise=0.2, width=512, depth=3, n_points=500, epochs=3, device="cpu")
    out = subprocess.run([sys.executable, "-c", MEASURE, repr(fields)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    grown, estimate = int(out.stdout.split()[-1]), run_cost(LabConfig(**fields)).memory_bytes
    assert grown < estimate, (grown, estimate)
