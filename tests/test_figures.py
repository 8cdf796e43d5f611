"""Figures are pure functions of a snapshot: inspect their traces, not pixels."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from dropviz import figures
from dropviz.config import preset
from dropviz.i18n import translator
from dropviz.train import run


@pytest.fixture(scope="module")
def snaps():
    """Every snapshot of a short run with an MC band: the first is iteration 0, the last is final."""
    return list(run(preset("classroom", width=16, depth=2, epochs=60, snapshot_every=20, mc_samples=8)))


def names(fig) -> list[str]:
    return [trace.get("name") for trace in fig["data"]]


def test_fit_shows_points_both_models_and_the_mc_band(snaps):
    fig = figures.fit_figure(snaps[-1])
    assert {"training points", "test points", "p = 0 (no dropout)", "p = 0.5 (dropout)"} <= set(names(fig))
    band = [t for t in fig["data"] if t.get("fill") == "toself"]
    assert len(band) == 1  # only the dropout model has a spread
    curve = next(t for t in fig["data"] if t["name"] == "p = 0.5 (dropout)")
    assert np.array_equal(curve["y"], snaps[-1].pred[1])


def test_loss_chart_has_train_and_test_of_both_models_on_a_log_axis(snaps):
    fig = figures.loss_figure(snaps[-1])
    assert len(fig["data"]) == 4 and fig["layout"]["yaxis"]["type"] == "log"
    h = snaps[-1].history
    assert np.array_equal(fig["data"][0]["x"], h["iteration"])
    assert len(fig["data"][0]["x"]) == len(snaps)  # one point per snapshot so far


def test_loss_chart_turns_nan_and_zero_into_gaps(snaps):
    history = {**snaps[-1].history, "train": snaps[-1].history["train"].copy()}
    history["train"][0, 0] = np.nan
    history["train"][1, 0] = 0.0
    y = figures.loss_figure(dataclasses.replace(snaps[-1], history=history))["data"][0]["y"]
    assert np.isnan(y[0]) and np.isnan(y[1]) and np.isfinite(y[2:]).all()


def test_masks_chart_has_one_heatmap_per_hidden_layer_with_the_observed_rate(snaps):
    snap = snaps[-1]
    fig = figures.masks_figure(snap)
    heatmaps = [t for t in fig["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2
    assert heatmaps[0]["z"].shape == (16, snap.masks.shape[2])  # units × training samples
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles[0] == f"layer 1: {snap.drop_rate[1, 0]:.1%} dropped"


def test_masks_chart_before_training_says_so(snaps):
    fig = figures.masks_figure(snaps[0])
    assert fig["data"] == [] and "after the first training step" in fig["layout"]["annotations"][0]["text"]


def test_weight_charts_cover_every_layer_of_both_models(snaps):
    snap = snaps[-1]
    layers = snap.weight_norm.shape[0]
    assert len(figures.weight_norm_figure(snap)["data"]) == 2 * layers
    hist = figures.weight_hist_figure(snap)
    assert len(hist["data"]) == 2 * layers
    assert sum(hist["data"][0]["y"]) == 16  # first layer: 1 × 16 weights, every one counted


def test_text_follows_the_language(snaps):
    zh = figures.fit_figure(snaps[-1], t=translator("zh"))
    assert "训练点" in names(zh)


def test_figures_are_plain_json_once_arrays_are_lists(snaps):
    def plain(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o))
    for make in (figures.fit_figure, figures.loss_figure, figures.masks_figure,
                 figures.weight_norm_figure, figures.weight_hist_figure):
        json.dumps(make(snaps[-1]), default=plain, allow_nan=True)
