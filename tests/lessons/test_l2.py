"""The dropout-vs-L2 lesson: four models from two engine runs, weight decay shrinks weights, the page works."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.i18n import catalog
from dropviz.lesson_figures.l2 import hist_figure, norm_figure, loss_figure
from dropviz.lessons.l2 import MODELS, L2Spec, shrinkage, spread
from dropviz.train import run
from tests.lessons import open_page, until_done
from tests.test_i18n import assert_no_missing_text

SMALL = LabConfig(width=16, epochs=150, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (tests/conftest.py)."""


def last(snaps):
    *_, snap = snaps
    return snap


@pytest.fixture(scope="module")
def final():
    threads = torch.get_num_threads()  # module-scoped: set up before the one_thread fixture runs
    torch.set_num_threads(1)
    try:
        return last(L2Spec.create(SMALL, 0.5, 0.05).snapshots(Control()))
    finally:
        torch.set_num_threads(threads)


def test_the_four_models_are_the_engines_two_runs(final):
    assert final.status == "done" and final.iteration == SMALL.epochs
    np.testing.assert_allclose(final.ps, [0, 0.5, 0, 0.5])
    np.testing.assert_allclose(final.decays, [0, 0, 0.05, 0.05])
    spec = L2Spec.create(SMALL, 0.5, 0.05)
    plain, decayed = last(run(spec.config)), last(run(spec.config.with_(weight_decay=0.05)))
    np.testing.assert_allclose(final.test_loss, np.concatenate([plain.test_loss, decayed.test_loss]), rtol=1e-6)
    np.testing.assert_allclose(final.weight_norm, np.concatenate([plain.weight_norm, decayed.weight_norm], 1), rtol=1e-6)


def test_all_four_start_from_the_same_weights(final):
    first = final.history["weight_norm"][0]  # (layers, 4) before any step
    assert final.history["iteration"][0] == 0
    np.testing.assert_allclose(first, first[:, :1].repeat(4, 1))


def test_weight_decay_lowers_the_final_weight_norms(final):
    total = np.sqrt((final.weight_norm.astype(float) ** 2).sum(0))  # (4,): neither, dropout, l2, both
    assert total[2] < 0.9 * total[0]  # L2 vs neither
    assert total[3] < 0.9 * total[1]  # both vs dropout alone
    ratios = shrinkage(final)
    assert ratios.shape == (SMALL.depth + 1, 3)
    assert (ratios[:-1, 1] < 0.9).all()  # every hidden layer shrinks under L2


def test_the_histograms_are_densities_and_l2_narrows_them(final):
    for density, centers in final.weight_hist:
        width = centers[:, 1] - centers[:, 0]
        np.testing.assert_allclose((density.sum(1) * width), 1, rtol=1e-4)
    std = spread(final)
    assert std.shape == (SMALL.depth + 1, 4) and std[1, 2] < std[1, 0]


def test_a_spec_with_no_decay_trains_two_identical_pairs():
    snap = last(L2Spec.create(SMALL.with_(epochs=20), 0.3, 0.0).snapshots(Control()))
    np.testing.assert_allclose(snap.test_loss[:2], snap.test_loss[2:], rtol=1e-6)


def test_the_figures_have_a_line_per_model_and_layer(final):
    layers = SMALL.depth + 1
    assert len(loss_figure(final)["data"]) == 4
    norms = norm_figure(final)["data"]
    assert len(norms) == 4 * layers and sum(tr["showlegend"] for tr in norms) == 4
    hist = hist_figure(final)["data"]
    assert len(hist) == 4 * layers and hist[0]["name"] == "neither" and "λ = 0.05" in hist[2]["name"]


# --- the page -------------------------------------------------------------------------------------
APP = "from dropviz.ui.lessons.l2 import render\nrender()"
QUICK = {"width": "8", "epochs": "40"}



def test_the_page_runs_at_its_defaults(shutdown_runner):
    at = open_page(APP)
    assert not at.exception and not at.warning and not at.error


def test_the_page_with_a_control_moved_shows_the_numbers(shutdown_runner):
    at = open_page(APP, QUICK)
    at.select_slider(key="l2_decay").set_value(0.03).run()
    assert not at.exception and at.query_params["decay"] == "0.03"
    text = until_done(at, "After 40 iterations")
    assert "L2 (λ = 0.03)" in text or "L2 left them" in text
    table = [m.value for m in at.markdown if m.value.startswith("| ")][0]
    assert all(catalog("en")[f"l2.models.{name}"].split(" (")[0] in table for name in MODELS)


def test_hostile_link_values_are_clamped_with_a_warning(shutdown_runner):
    at = open_page(APP, {"drop": "5", "decay": "-1e9", "epochs": "20"})
    assert not at.exception
    assert "drop" in at.warning[0].value and "decay" in at.warning[0].value
    assert at.session_state["l2_drop"] == 0.9 and at.session_state["l2_decay"] == 0.0


def test_the_page_in_chinese_has_no_missing_text(shutdown_runner):
    at = open_page(APP, {**QUICK, "lang": "zh"})
    until_done(at, "40 次迭代之后")
    assert_no_missing_text(at)


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_charts_are_readable_and_neither_and_dropout_keep_the_labs_colours(final, lang):
    from dropviz.i18n import translator
    from tests.chart_checks import BLUE, ORANGE, colors_of, font_sizes, readable
    for make in (loss_figure, norm_figure, hist_figure):
        fig = make(final, t=translator(lang))
        assert readable(fig) == []
        assert min(font_sizes(make(final, t=translator(lang), big=True))) >= 16
        neither, dropout, *others = [colors_of({"data": [tr]})[0] for tr in fig["data"][:4]]
        assert (neither, dropout) == (BLUE, ORANGE) and not {BLUE, ORANGE} & set(others)
