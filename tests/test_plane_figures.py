"""The 2-D charts of a real 2-D run: the decision boundaries are the models' probabilities on
the grid with the points on top, accuracy sits beside the loss, and the lab's chart keys pick them."""

from __future__ import annotations

import numpy as np
import pytest

from dropviz import train
from dropviz.config import LabConfig
from dropviz.i18n import translator
from dropviz.plane_figures import CLASS_COLORS, boundary_figure, loss_accuracy_figure
from dropviz.ui.lab_charts import CHARTS

PLANE = LabConfig(dataset="circle", n_points=60, noise=0.1, width=16, depth=2, epochs=40, snapshot_every=20,
                  p=0.5, seed=3)


@pytest.fixture(scope="module")
def snap() -> train.Snapshot:
    return [s for s in train.run(PLANE) if s is not None][-1]


def test_the_boundaries_are_each_models_probability_on_the_grid_with_its_points(snap):
    fig = boundary_figure(snap)
    maps = [tr for tr in fig["data"] if tr["type"] == "heatmap"]
    assert len(maps) == 2 and [tr.get("xaxis", "x") for tr in maps] == ["x", "x2"]
    for m, tr in enumerate(maps):
        assert tr["z"].shape == (50, 50) and np.array_equal(tr["z"], snap.prob[m])
        assert 0 <= tr["z"].min() and tr["z"].max() <= 1
    dots = [tr for tr in fig["data"] if tr["type"] == "scatter" and tr.get("xaxis", "x") == "x"]
    n_train, n_test = len(snap.data.x_train), len(snap.data.x_test)
    assert sum(len(tr["x"]) for tr in dots if tr["marker"]["symbol"] == "circle") == n_train
    assert sum(len(tr["x"]) for tr in dots if tr["marker"]["symbol"] == "circle-open") == n_test
    for tr in dots:  # each point in its class's colour
        cls = CLASS_COLORS.index(tr["marker"]["color"])
        labels = {tuple(x): y for x, y in zip(np.concatenate([snap.data.x_train, snap.data.x_test]),
                                               np.concatenate([snap.data.y_train, snap.data.y_test])[:, 0])}
        assert all(labels[(x, y)] == cls for x, y in zip(tr["x"], tr["y"]))


def test_the_probability_is_the_sigmoid_of_the_models_logit(snap):
    assert snap.prob.shape == (2, 50, 50) and snap.grid_axis.shape == (50,)
    logits = snap.pred.reshape(2, 50, 50)
    assert np.allclose(snap.prob, 1 / (1 + np.exp(-logits)), atol=1e-6)


def test_accuracy_stands_beside_the_loss(snap):
    fig = loss_accuracy_figure(snap, t=translator("zh"))
    beside = [tr for tr in fig["data"] if tr.get("yaxis") == "y2"]
    assert len(beside) == 4  # train and test accuracy of both models
    for tr in beside:
        assert 0 <= np.nanmin(tr["y"]) and np.nanmax(tr["y"]) <= 1
    assert np.array_equal(beside[1]["y"], snap.history["test_acc"][:, 0])
    assert fig["layout"]["yaxis2"]["tickformat"] == ".0%" and "准确率" in fig["layout"]["yaxis2"]["title"]["text"]


def test_the_labs_first_charts_pick_the_2d_ones_for_a_2d_run(snap):
    fit, loss = CHARTS["fit"][0], CHARTS["loss"][0]
    assert [tr["type"] for tr in fit(snap)["data"]].count("heatmap") == 2
    assert any(tr.get("yaxis") == "y2" for tr in loss(snap)["data"])
    regression = [s for s in train.run(LabConfig(width=8, epochs=2)) if s is not None][-1]
    assert not [tr for tr in fit(regression)["data"] if tr["type"] == "heatmap"]
    net = CHARTS["net_p"][0](snap)
    assert len([tr for tr in net["data"] if tr["type"] == "heatmap"]) == 2 + PLANE.depth  # images in every column


def test_a_2d_frame_sends_its_heatmaps_as_compact_arrays(snap):
    """Two 50 × 50 boundaries a frame, five frames a second: float32 typed arrays, not JSON lists."""
    import json

    from dropviz.ui import live_chart

    payload = live_chart.encode(CHARTS["fit"][0](snap), key="fit", height=360)
    maps = [tr for tr in json.loads(payload)["figure"]["data"] if tr["type"] == "heatmap"]
    assert [tr["z"]["dtype"] for tr in maps] == ["f4", "f4"] and all("bdata" in tr["z"] for tr in maps)
    assert len(payload) < 2 * 50 * 50 * 4 * 4 / 3 + 20_000  # the two grids in base64, plus the points and layout
