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
from tests.chart_checks import BLUE, ORANGE, colors_of, font_sizes, log_axes_are_powers_of_ten, readable


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
    lines = [trace for trace in fig["data"] if trace["x"][0] is not None]
    assert len(lines) == 4 and fig["layout"]["yaxis"]["type"] == "log"
    # One legend entry per model (its test line) and a key saying which dash is which.
    assert [trace["name"] for trace in fig["data"] if trace.get("showlegend", True)] == [
        "p = 0 (no dropout)", "p = 0.5 (dropout)", "train (dashed)", "test (solid)"]
    assert [trace["line"]["dash"] for trace in lines] == ["dash", "solid"] * 2
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
    assert titles[0] == f"layer 1<br>{snap.drop_rate[1, 0]:.1%} dropped"


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


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
LAB = (figures.fit_figure, figures.loss_figure, figures.masks_figure, figures.weight_norm_figure,
       figures.weight_hist_figure, figures.seeds_figure)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("make", LAB, ids=lambda f: f.__name__)
def test_every_lab_chart_is_readable(snaps, make, lang):
    """Axes titled (in both languages), log axes in powers of ten, the title clear of the toolbar."""
    assert readable(make(snaps[-1], t=translator(lang))) == []


def test_the_loss_axis_shows_powers_of_ten_not_si_prefixes(snaps):
    history = {**snaps[-1].history, "train": snaps[-1].history["train"].copy()}
    history["train"][-1, 0] = 1e-14  # p = 0's train loss heads for 0: 10⁻¹⁴ printed as "10f" before
    axis = figures.loss_figure(dataclasses.replace(snaps[-1], history=history))["layout"]["yaxis"]
    assert log_axes_are_powers_of_ten({"data": [], "layout": {"yaxis": axis}}) == []
    assert all(text.startswith("10<sup>") for text in axis["ticktext"]) and 2 <= len(axis["ticktext"]) <= 7
    top = np.log10(np.nanmax(history["test"]))
    assert top - axis["range"][0] <= figures.LOSS_DECADES + 0.01  # the test losses are not squashed


def test_log_ticks_over_a_narrow_range_are_plain_1_2_5_steps():
    axis = figures.log_axis(np.array([0.06, 0.9]))
    assert axis["ticktext"] == ["0.05", "0.1", "0.2", "0.5", "1"]


def test_each_model_keeps_its_colour_on_every_lab_chart(snaps):
    snap = snaps[-1]
    for make in LAB:
        fig = make(snap)
        for trace in fig["data"]:
            name = trace.get("name") or ""
            for p, colour in ((0.0, BLUE), (0.5, ORANGE)):
                if figures.model_name(p) in name and trace["type"] != "heatmap":
                    assert colors_of({"data": [trace]})[0] == colour, (make.__name__, name)


def test_weight_norms_one_panel_per_layer_with_both_models_in_their_colours(snaps):
    snap = snaps[-1]
    fig = figures.weight_norm_figure(snap)
    layers = snap.weight_norm.shape[0]
    panels = {}
    for trace in fig["data"]:
        panels.setdefault(trace.get("xaxis", "x"), []).append(trace)
    assert len(panels) == layers and all(len(traces) == 2 for traces in panels.values())
    for traces in panels.values():  # each panel: p = 0 in blue, dropout in orange, nothing told by dash
        assert [colors_of({"data": [t]})[0] for t in traces] == [BLUE, ORANGE]
        assert {t["line"].get("dash", "solid") for t in traces} == {"solid"}
    legend = [t["name"] for t in fig["data"] if t["showlegend"]]
    assert legend == [figures.model_name(0.0), figures.model_name(0.5)]
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles == [f"layer {l + 1}" for l in range(layers - 1)] + [f"layer {layers} (output)"]


def test_weight_norms_show_the_change_on_each_layers_own_scale(snaps):
    """Per cent since the start, from zero: a hidden layer's few per cent is not a flat line at 1.0."""
    snap = snaps[-1]
    fig = figures.weight_norm_figure(snap)
    norms = snap.history["weight_norm"]
    first = fig["data"][0]  # layer 1, p = 0
    np.testing.assert_allclose(first["y"], 100 * (norms[:, 0, 0] / norms[0, 0, 0] - 1), rtol=1e-5, atol=1e-6)
    assert first["y"][0] == 0 and np.array_equal(first["customdata"], norms[:, 0, 0])  # ‖W‖ itself on hover
    assert all(fig["layout"][f"yaxis{s}"]["ticksuffix"] == "%" for s in ("", "2"))
    assert "matches" not in fig["layout"]["yaxis2"]  # own scale


def test_masks_chart_says_how_many_units_it_shows(snaps):
    assert "all 16 units" in figures.masks_figure(snaps[-1])["layout"]["title"]["subtitle"]["text"]
    wide = list(run(preset("classroom", width=200, depth=1, epochs=1, snapshot_every=1)))[-1]
    subtitle = figures.masks_figure(wide)["layout"]["title"]["subtitle"]["text"]
    assert f"first {figures.MAX_MASK_UNITS} of 200 units" in subtitle
    zh = figures.masks_figure(wide, t=translator("zh"))["layout"]["title"]["subtitle"]["text"]
    assert f"200 个单元中的前 {figures.MAX_MASK_UNITS} 个" in zh


def test_mask_layer_titles_fit_a_phone(snaps):
    """Three panels share ~358 px on a phone: each title in short lines, not one long run-on line."""
    for lang in ("en", "zh"):
        fig = figures.masks_figure(snaps[-1], t=translator(lang))
        for note in fig["layout"]["annotations"]:
            assert all(len(line) <= 14 for line in note["text"].split("<br>")), note["text"]


def test_big_makes_every_chart_text_at_least_16_px(snaps):
    for make in LAB:
        assert min(font_sizes(make(snaps[-1], big=True))) >= 16, make.__name__
        assert max(font_sizes(make(snaps[-1]))) < 16, make.__name__  # a screen keeps Plotly's sizes


# --- the spread over seeds, beside the loss chart (issue 12, point 2) ------------------------------------------

@pytest.fixture(scope="module")
def seeded():
    """Every snapshot of a short run of the Classroom pair for 4 seeds."""
    return list(run(preset("classroom", width=16, depth=2, epochs=60, snapshot_every=20, n_seeds=4)))


def test_seeds_chart_has_a_dot_per_seed_for_each_model_in_its_colour(seeded):
    snap = seeded[-1]
    fig = figures.seeds_figure(snap)
    test = snap.all_test_loss.reshape(-1, 2)  # (seeds, [p = 0, dropout])
    dots = {t["name"]: t for t in fig["data"] if t["mode"] == "markers"}
    assert list(dots) == [figures.model_name(0.0), figures.model_name(0.5)]
    for col, (name, trace) in enumerate(dots.items()):
        np.testing.assert_array_equal(trace["y"], test[:, col])  # the run's own numbers, seed by seed
        assert trace["customdata"].tolist() == [1, 2, 3, 4]
        assert colors_of({"data": [trace]}) == [(BLUE, ORANGE)[col]]
        sizes = trace["marker"]["size"]
        assert sizes[0] > sizes[1:].max() and trace["marker"]["line"]["width"][0] > 0  # the charted seed stands out
    joins = next(t for t in fig["data"] if t["mode"] == "lines" and not t["showlegend"] and t["hoverinfo"] == "skip")
    assert np.sum(np.isnan(joins["x"])) == 4  # one line per seed, joining its two models
    medians = [t for t in fig["data"] if "median" in t["name"]]
    assert [colors_of({"data": [t]})[0] for t in medians] == [BLUE, ORANGE]
    assert medians[0]["y"][0] == pytest.approx(float(np.median(test[:, 0])))
    assert fig["layout"]["xaxis"]["ticktext"] == [figures.model_name(0.0), figures.model_name(0.5)]
    assert "final" in fig["layout"]["title"]["subtitle"]["text"]
    assert "iteration 20" in figures.seeds_figure(seeded[1])["layout"]["title"]["subtitle"]["text"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_seeds_chart_is_readable(seeded, lang):
    fig = figures.seeds_figure(seeded[-1], t=translator(lang))
    assert readable(fig) == []
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert min(font_sizes(figures.seeds_figure(seeded[-1], big=True))) >= 16


def test_seeds_chart_leaves_a_diverged_model_out(seeded):
    snap = seeded[-1]
    losses = snap.all_test_loss.copy()
    losses[3] = np.nan  # seed 2's dropout model
    fig = figures.seeds_figure(dataclasses.replace(snap, all_test_loss=losses))
    dropout = next(t for t in fig["data"] if t["name"] == figures.model_name(0.5))
    assert np.isnan(dropout["y"][1]) and np.isfinite(np.delete(dropout["y"], 1)).all()
    assert readable(fig) == []


def test_losses_within_a_few_decades_fill_the_loss_chart(snaps):
    """The axis spans the losses, not always LOSS_DECADES: 0.05 … 1 must not sit in the top quarter."""
    history = {**snaps[-1].history}
    history["train"] = np.full_like(history["train"], 0.05)
    history["test"] = np.full_like(history["test"], 0.9)
    axis = figures.loss_figure(dataclasses.replace(snaps[-1], history=history))["layout"]["yaxis"]
    assert axis["range"][0] == pytest.approx(np.log10(0.05) - 0.05) and axis["range"][1] - axis["range"][0] < 1.5


def test_projector_weight_histograms_label_two_ticks_flat(snaps):
    for big, count in ((False, 3), (True, 2)):
        layout = figures.weight_hist_figure(snaps[-1], big=big)["layout"]
        assert len(layout["xaxis"]["tickvals"]) == count and layout["xaxis"]["tickangle"] == 0
