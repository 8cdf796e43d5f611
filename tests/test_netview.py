"""The network view: its numbers follow the real run (units, weights, masks, unit outputs), and
its figure draws what those numbers say (crosses on dropped units, edges by sign and size)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from dropviz import train
from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.model import StackedMLP, to_sequential
from dropviz.figures import rgba
from dropviz.net_figure import EDGE_ALPHA, NEGATIVE, POSITIVE, SPARK, network_figure
from dropviz.netview import EXAMPLE, MAX_UNITS, drawn_units, net_view

SMALL = LabConfig(width=24, depth=3, epochs=6, snapshot_every=1, p=0.5, seed=4)


def snapshots(config: LabConfig) -> list[train.Snapshot]:
    return [s for s in train.run(config) if s is not None]


def test_wide_layers_draw_a_fixed_sample_of_units_narrow_ones_all():
    units = drawn_units(1024, 6, seed=3)
    assert units.shape == (6, MAX_UNITS)
    assert all(len(set(row)) == MAX_UNITS and list(row) == sorted(row) and row.max() < 1024 for row in units)
    assert (drawn_units(1024, 6, seed=3) == units).all()  # chosen from the seed: the same at every frame
    assert not (drawn_units(1024, 6, seed=4) == units).all()
    assert (drawn_units(7, 2, seed=3) == np.arange(7)).all()


def test_the_view_shows_the_units_of_the_run_and_the_masks_of_each_step():
    snaps = snapshots(SMALL)[1:]  # iterations 1…6, one training step apart
    units = snaps[0].net.units
    for snap in snaps:
        net = snap.net
        assert (net.units == units).all()  # the same units at every frame
        for m in range(2):
            for l in range(SMALL.depth):
                assert (net.kept[m, l] == snap.masks[m, l, EXAMPLE, units[l]].astype(bool)).all()
                assert net.kept_share[m, l] == pytest.approx(snap.masks[m, l, EXAMPLE].mean())
    assert all(s.net.kept[0].all() for s in snaps)  # p = 0 keeps every unit
    patterns = {s.net.kept[1].tobytes() for s in snaps}
    assert len(patterns) == len(snaps)  # every step trains another sub-network
    assert 0.25 < np.mean([s.net.kept_share[1].mean() for s in snaps]) < 0.75  # p = 0.5 keeps about half


def test_the_view_has_the_models_weights_and_each_units_output_over_x():
    model = StackedMLP([0.0, 0.5], 16, 2, [1, 1])
    units = drawn_units(16, 2, seed=1, most=5)
    x = torch.linspace(-1.2, 1.2, 120).unsqueeze(1)
    hidden: list[torch.Tensor] = []
    with torch.no_grad():
        pred = model.eval()(x, hidden=hidden)
    net = net_view(units, model.sizes, [w for w in model.weights], hidden, pred, None, x[:, 0].numpy())
    assert net.kept.all()  # before the first step: nothing dropped yet
    w1 = model.weights[1].detach().numpy()
    assert np.array_equal(net.weights[1], w1[:, units[0]][:, :, units[1]])
    assert np.array_equal(net.weights[0][:, 0], model.weights[0].detach().numpy()[:, 0, units[0]])
    at = np.searchsorted(x[:, 0].numpy(), net.x)
    for m in range(2):  # layer 2's outputs, as nn.Sequential's first five modules compute them
        seq = to_sequential(model, m).eval()
        with torch.no_grad():
            expected = seq[:5](x)[:, units[1]].numpy().T  # Linear, ReLU, Dropout, Linear, ReLU
        assert np.allclose(net.outputs[m, 1], expected[:, at], atol=1e-6)
        assert np.allclose(net.prediction[m], pred[m, at, 0].numpy())


def _segments(trace: dict) -> int:
    return int(np.isnan(np.asarray(trace["x"], dtype=float)).sum())


def test_the_thinned_network_crosses_out_the_dropped_units_and_fades_their_edges():
    snap = snapshots(SMALL)[-1]
    net, k, depth = snap.net, snap.net.n_drawn, SMALL.depth
    thinned, full = network_figure(snap, model=1), network_figure(snap, model=0)
    dropped = int((~net.kept[1]).sum())
    crosses = [tr for tr in thinned["data"] if tr.get("line", {}).get("width") == 2]
    assert dropped > 0 and sum(map(_segments, crosses)) == 2 * dropped
    assert not [tr for tr in full["data"] if tr.get("line", {}).get("width") == 2]  # p = 0: none
    hover = [tr for tr in thinned["data"] if tr.get("hoverinfo") == "text"][0]
    assert len(hover["hovertext"]) == 2 + depth * k
    assert sum("dropped" in text for text in hover["hovertext"]) == dropped
    # Live edges by sign: as many positive segments as drawn weights ≥ 0 between two kept units.
    kept = [np.ones(1, bool)] + list(net.kept[1]) + [np.ones(1, bool)]
    live_positive = sum(int(((w[1] >= 0) & kept[l][:, None] & kept[l + 1][None, :]).sum())
                        for l, w in enumerate(net.weights))
    drawn_positive = sum(_segments(tr) for tr in thinned["data"] if tr.get("line", {}).get("color") == rgba(POSITIVE, EDGE_ALPHA))
    assert drawn_positive == live_positive
    assert any(tr.get("line", {}).get("color") == rgba(NEGATIVE, EDGE_ALPHA) for tr in thinned["data"])
    assert "p = 0.5" in thinned["layout"]["title"]["text"] and f"{k} of {SMALL.width}" in \
        thinned["layout"]["title"]["subtitle"]["text"]


def test_a_wide_deep_network_draws_ten_units_a_layer_and_says_so():
    config = LabConfig(width=1024, depth=6, epochs=2, snapshot_every=1, p=0.5, n_points=20)
    snap = snapshots(config)[-1]
    fig = network_figure(snap, model=1, big=True)
    hover = [tr for tr in fig["data"] if tr.get("hoverinfo") == "text"][0]
    assert len(hover["hovertext"]) == 2 + 6 * MAX_UNITS
    assert "10 of 1024" in fig["layout"]["title"]["subtitle"]["text"]
    assert len(fig["data"]) <= 16  # a few traces whatever the width: frames stay small


def test_a_diverged_model_still_draws():
    snap = snapshots(SMALL)[-1]
    for w in snap.net.weights:
        w[1] = np.nan
    snap.net.outputs[1] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = network_figure(snap, model=1)
    assert fig["data"]


def test_before_a_run_has_a_snapshot_with_a_view_the_figure_is_empty():
    snap = snapshots(SMALL)[0]
    snap.net = None
    assert network_figure(snap, model=1)["data"] == []


def test_step_shows_the_next_sub_network():
    """Paused, each Step trains one iteration and its snapshot draws that step's masks."""
    control = Control()
    control.pause()
    steps = train.run(SMALL.with_(epochs=100, snapshot_every=50), control)
    seen = []
    for snap in steps:
        if snap is None:
            if len(seen) == 3:
                break
            control.step()
            continue
        seen.append(snap)
    assert [s.iteration for s in seen] == [0, 1, 2]
    assert seen[1].net.kept[1].tobytes() != seen[2].net.kept[1].tobytes()


def test_a_units_tooltip_draws_its_output_over_x():
    """The tooltip's line of blocks rises where the unit's output rises: x's own is a ramp."""
    snap = snapshots(SMALL)[-1]
    hover = [tr for tr in network_figure(snap, model=0)["data"] if tr.get("hoverinfo") == "text"][0]["hovertext"]
    ramp = hover[0].rsplit("x: ", 1)[1]
    assert len(ramp) == 20 and list(ramp) == sorted(ramp) and ramp[0] == SPARK[0] and ramp[-1] == SPARK[-1]
    net = snap.net
    unit = net.outputs[0, 1, 3]  # layer 2's fourth drawn unit: its tooltip is the 2 + 10 + 3rd
    line = hover[1 + net.n_drawn + 3].rsplit("x: ", 1)[1]
    picked = unit[np.linspace(0, len(unit) - 1, 20).round().astype(int)]
    level = (picked - unit.min()) / (np.ptp(unit) or 1.0) * (len(SPARK) - 1)  # 0…7 over the unit's range
    assert [SPARK.index(c) for c in line] == [int(round(float(v))) for v in level]


def test_a_2d_network_draws_each_unit_as_an_image_of_its_output_over_the_plane():
    from dropviz.data2d import Dataset2D
    from dropviz.netview import THUMB_SIDE

    model = StackedMLP([0.0, 0.5], 12, 2, [3, 3], in_features=2)
    points, axis, _ = Dataset2D.grid(50)
    grid = torch.from_numpy(points)
    hidden: list[torch.Tensor] = []
    with torch.no_grad():
        pred = model.eval()(grid, hidden=hidden)
    masks = torch.ones(2, 2, 5, 12)
    masks[1, 0, EXAMPLE, :6] = 0  # the dropout model dropped layer 1's first six units for point 1
    net = net_view(drawn_units(12, 2, seed=3, most=5), model.sizes, list(model.weights), hidden, pred, masks, points)
    assert net.plane and net.outputs.shape == (2, 2, 5, THUMB_SIDE ** 2) and len(net.x) == THUMB_SIDE
    assert net.weights[0].shape == (2, 2, 5)  # both inputs to the drawn units of layer 1
    at = np.linspace(0, 49, THUMB_SIDE).round().astype(int)
    unit = net.units[1, 2]  # layer 2's third drawn unit, at the subgrid's points
    expected = hidden[1][1].numpy().reshape(50, 50, 12)[at][:, at, unit]
    assert np.allclose(net.outputs[1, 1, 2].reshape(THUMB_SIDE, THUMB_SIDE), expected)
    fig = network_figure(_snapshot_with(net), model=1)
    images = [tr for tr in fig["data"] if tr["type"] == "heatmap"]
    assert len(images) == 2 + 2  # the inputs, two hidden layers, the output: one heatmap a column
    cells = [int(np.isfinite(im["z"]).sum()) for im in images]
    assert cells == [2 * THUMB_SIDE ** 2, 5 * THUMB_SIDE ** 2, 5 * THUMB_SIDE ** 2, THUMB_SIDE ** 2]
    x1, x2 = images[0]["z"][-THUMB_SIDE:], images[0]["z"][:THUMB_SIDE]  # x1 on top (first unit), x2 below
    assert (np.diff(x1, axis=1) > 0).all() and (np.diff(x1, axis=0) == 0).all()  # x1 grows left to right
    assert (np.diff(x2, axis=0) > 0).all() and (np.diff(x2, axis=1) == 0).all()  # x2 grows bottom to top
    dropped = int((~net.kept[1, 0]).sum())
    assert int((images[1]["z"] >= 2).sum()) == dropped * THUMB_SIDE ** 2  # drawn faded


def _snapshot_with(net) -> train.Snapshot:
    snap = snapshots(SMALL.with_(epochs=1))[-1]
    snap.net = net
    return snap
