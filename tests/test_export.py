"""The exported script is plain PyTorch, trains the run's dropout variant, and claims only what holds.

What holds for its p = 0 model: the lab's data and initial weights exactly, the lab's losses at the
start and closely for the first iterations, SGD and Adam alike. Not the final numbers in general:
the script's nn.Linear layers round differently from the lab's batched matmuls and the gap can grow
(issue 13 measured Adam's p = 0 model ending at 0.3153 in the script, 0.307 in the lab; the classroom
preset with SGD after 600 iterations: train loss 0.148 vs 0.165), so the script no longer says that
its p = 0 model ends where the lab's did.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest
import torch

from dropviz.config import DATASETS_2D, VARIANTS, LabConfig, preset
from dropviz.data import make_dataset
from dropviz.export import pytorch_script
from dropviz.model import MiniBatches
from dropviz.train import run


def script(config: LabConfig) -> dict:
    """The exported script's namespace, executed here (its `main` not yet run)."""
    namespace: dict = {}
    exec(compile(pytorch_script(config), "dropviz_run.py", "exec"), namespace)
    return namespace


def main(config: LabConfig) -> dict[float, tuple[float, float]]:
    with contextlib.redirect_stdout(io.StringIO()):
        return script(config)["main"]()


def last(snapshots):
    *_, final = snapshots
    return final


@pytest.mark.parametrize("dataset", ["source", "sine"])
def test_the_data_are_the_labs_bit_for_bit(dataset):
    config = LabConfig(dataset=dataset, n_points=12, seed=5)
    ns = script(config)
    ours, lab = ns["make_data"](ns["CONFIG"]), make_dataset(config)
    for tensor, array in zip(ours, (lab.x_train, lab.y_train, lab.x_test, lab.y_test)):
        np.testing.assert_array_equal(tensor.numpy(), array)


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_models_start_with_the_labs_losses(variant):
    """The untrained models in eval mode: the same weights, and each variant's test-time rule
    (vanilla dropout multiplies by 1 - p; the script used nn.Dropout, the identity, for every variant)."""
    config = preset("source", width=16, epochs=1, p=0.4, variant=variant, device="cpu")
    ns = script(config)
    c = ns["CONFIG"]
    assert c["variant"] == variant
    x, y, x_test, y_test = ns["make_data"](c)
    untrained = next(iter(run(config)))
    assert untrained.iteration == 0
    mse = torch.nn.MSELoss()
    for m, p in enumerate(config.ps):
        model = ns["make_model"](c, p).eval()
        with torch.no_grad():
            losses = (mse(model(x), y).item(), mse(model(x_test), y_test).item())
        np.testing.assert_allclose(losses, (untrained.train_loss[m], untrained.test_loss[m]), rtol=1e-6)


def test_vanilla_dropout_leaves_kept_units_unscaled_and_scales_at_test_time():
    dropout = script(LabConfig(variant="vanilla", p=0.25))["DROPOUT"]["vanilla"](0.25)
    h = torch.full((100, 100), 2.0)
    trained = dropout.train()(h)
    assert set(trained.unique().tolist()) == {0.0, 2.0}  # dropped, or kept as it was
    assert abs((trained == 0).float().mean().item() - 0.25) < 0.03  # p is the DROP probability
    assert torch.equal(dropout.eval()(h), torch.full((100, 100), 1.5))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["source", "classroom"])
def test_the_p0_model_follows_the_labs_for_the_first_iterations(name, optimizer):
    config = preset(name, width=32, epochs=40, optimizer=optimizer, lr=0.01, device="cpu")
    results = main(config)
    final = last(run(config))
    assert set(results) == {0.0, config.p}
    np.testing.assert_allclose(results[0.0], (final.train_loss[0], final.test_loss[0]), rtol=1e-4)


def test_the_script_claims_only_what_holds():
    doc = script(preset("classroom", optimizer="adam"))["__doc__"]
    assert "ends where" not in doc  # the final numbers can differ (see this module's doc)
    assert "not bit for bit" in doc.lower() and "first tens of iterations" in doc
    assert "vanilla dropout" in script(preset("source", variant="vanilla"))["__doc__"]


def test_script_runs_standalone_without_dropviz(tmp_path):
    path = tmp_path / "dropviz_run.py"
    path.write_text(pytorch_script(preset("source", width=8, epochs=5, p=0.3, variant="vanilla")))
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "p = 0: train loss" in out.stdout and "p = 0.3: train loss" in out.stdout


# --- 2-D classification (issue 14): Playground's points, a logit out, BCEWithLogitsLoss, L1, mini-batches ---

TWO_D = LabConfig(dataset="moons", n_points=120, noise=0.2, ratio=40, width=16, depth=2, epochs=40, lr=0.05,
                  device="cpu")


@pytest.mark.parametrize("dataset", DATASETS_2D)
def test_the_2d_points_are_the_labs_bit_for_bit(dataset):
    config = TWO_D.with_(dataset=dataset, noise=0.3, seed=7)
    ns = script(config)
    ours, lab = ns["make_data"](ns["CONFIG"]), make_dataset(config)
    assert [len(t) for t in ours] == [48, 48, 72, 72]  # 40 % of 120 for training
    for tensor, array in zip(ours, (lab.x_train, lab.y_train, lab.x_test, lab.y_test)):
        np.testing.assert_array_equal(tensor.numpy(), array)
    text = pytorch_script(config)
    assert "import dropviz" not in text and "from dropviz" not in text and "from ." not in text


def test_the_scripts_mini_batches_are_the_labs():
    config = TWO_D.with_(batch_size=10)
    ns = script(config)
    steps, lab = ns["batches"](ns["CONFIG"], 48), MiniBatches([config.seed] * 2, 48, 10)
    for _ in range(13):  # 4 batches an epoch: past three reshuffles
        batch = lab.next()
        assert torch.equal(next(steps), batch[0]) and torch.equal(batch[0], batch[1])
    full = ns["batches"](ns["CONFIG"] | {"batch_size": 0}, 48)
    assert next(full) is None and next(full) is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_2d_models_start_with_the_labs_losses(variant):
    config = TWO_D.with_(epochs=1, p=0.4, variant=variant)
    ns = script(config)
    c = ns["CONFIG"]
    x, y, x_test, y_test = ns["make_data"](c)
    untrained = next(iter(run(config)))
    assert untrained.iteration == 0 and untrained.task == "classification"
    bce = torch.nn.BCEWithLogitsLoss()
    assert isinstance(ns["LOSS"](), torch.nn.BCEWithLogitsLoss) and ns["INPUTS"] == 2
    for m, p in enumerate(config.ps):
        model = ns["make_model"](c, p).eval()
        with torch.no_grad():
            out, out_test = model(x), model(x_test)
            losses = (bce(out, y).item(), bce(out_test, y_test).item())
            accuracy = (ns["accuracy"](out, y), ns["accuracy"](out_test, y_test))
        np.testing.assert_allclose(losses, (untrained.train_loss[m], untrained.test_loss[m]), rtol=1e-6)
        np.testing.assert_allclose(accuracy, (untrained.train_acc[m], untrained.test_acc[m]), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("l1,batch_size", [(0.0, 0), (0.001, 0), (0.0, 12), (0.001, 12)])
def test_the_2d_p0_model_follows_the_labs_for_the_first_iterations(optimizer, l1, batch_size):
    config = TWO_D.with_(optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.01, l1=l1, batch_size=batch_size)
    results = main(config)
    final = last(run(config))
    assert set(results) == {0.0, config.p}
    np.testing.assert_allclose(results[0.0], (final.train_loss[0], final.test_loss[0]), rtol=1e-4)
    assert final.train_loss[0] < next(iter(run(config))).train_loss[0]  # it learned something meanwhile


def test_the_2d_script_says_what_it_trains_and_runs_standalone(tmp_path):
    config = TWO_D.with_(dataset="spiral", epochs=5, l1=0.003, batch_size=20)
    text = pytorch_script(config)
    assert "L1 0.003, batches of 20" in text and "nn.BCEWithLogitsLoss" in text and "def _spiral(" in text
    path = tmp_path / "dropviz_run.py"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "p = 0: train loss" in out.stdout and "test accuracy" in out.stdout
