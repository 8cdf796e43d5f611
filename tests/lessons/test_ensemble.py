"""The "Dropout as an ensemble" lesson: the lab's model retrained, sub-network averages, figures, page."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.lessons import open_page, settle
from tests.test_i18n import assert_no_missing_text

from dropviz import train as lab_train
from dropviz.config import LabConfig
from dropviz.i18n import catalog, translator
from dropviz.lesson_figures import ensemble as figures
from dropviz.lessons import ensemble

SMALL = LabConfig(width=32, epochs=200, snapshot_every=200, device="cpu")  # ~1 s to train
MASKS = 1000
PAGE = "from dropviz.ui.lessons.ensemble import render\nrender()"


@pytest.fixture(scope="module")
def nets() -> dict[str, ensemble.Net]:
    return {act: ensemble.train(SMALL, act) for act in ensemble.ACTIVATIONS}


@pytest.fixture(scope="module")
def ensembles(nets) -> dict[str, ensemble.Ensemble]:
    return {act: ensemble.sample(net, SMALL, MASKS, seed=0) for act, net in nets.items()}


@pytest.mark.parametrize("variant", ["inverted", "vanilla", "torch"])
def test_relu_training_gives_the_labs_dropout_model(variant):
    config = LabConfig(width=12, epochs=40, snapshot_every=40, device="cpu", variant=variant, p=0.3)
    snap = list(lab_train.run(config))[-1]
    net = ensemble.train(config, "relu")
    ours = ensemble.forward(net, torch.from_numpy(snap.x_grid[:, None]))[:, 0].numpy()
    np.testing.assert_allclose(ours, snap.pred[1], atol=1e-5)


def test_linear_average_matches_the_eval_curve_within_sampling_error(ensembles):
    ens = ensembles["linear"]
    assert np.all(np.isfinite(ens.subnets)) and ens.spread.max() > 0.01  # dropout really varies them
    assert ensemble.gap_in_stderrs(ens) < 3
    assert np.all(ens.gap < 5 * ens.stderr + 1e-6)


def test_relu_average_misses_the_eval_curve_by_more_than_sampling(ensembles):
    relu, linear = ensemble.gap_in_stderrs(ensembles["relu"]), ensemble.gap_in_stderrs(ensembles["linear"])
    assert relu > 3 and relu > 2 * linear


def test_spread_grows_with_distance_from_the_data(ensembles):
    for ens in ensembles.values():
        d = ens.distance
        assert d.min() < 0.01 and d.max() == pytest.approx(1.0, abs=0.02)  # grid [-2, 2], data in [-1, 1]
        assert ens.spread[d > 0.5].mean() > 1.5 * ens.spread[d < 0.05].mean()
        assert np.corrcoef(d, ens.spread)[0, 1] > 0.5


def test_sub_networks_follow_the_seed_and_share_one_mask_across_x(nets):
    a, b, c = (ensemble.sample(nets["relu"], SMALL, 5, seed=s).subnets for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # One fixed sub-network is a deterministic function of x: evaluating x twice gives the same value.
    net = nets["relu"]
    keep = (torch.rand(1, net.depth, 1, net.width, generator=torch.Generator().manual_seed(3)) > net.p).float()
    out = ensemble.forward(net, torch.tensor([[0.3], [0.3]]), keep)[0, :, 0]
    torch.testing.assert_close(out[0], out[1])  # to rounding: the rows of one matmul may take different kernels


def test_p_zero_has_a_single_sub_network():
    config = SMALL.with_(p=0.0, epochs=20)
    ens = ensemble.sample(ensemble.train(config), config, 10)
    assert np.allclose(ens.subnets, ens.eval[None]) and ens.gap.max() < 1e-5


def test_budget_caps_big_lab_settings_only():
    assert ensemble.budgeted(LabConfig()) == LabConfig()  # the source's size trains in full
    big = LabConfig(width=1024, epochs=20_000)
    capped = ensemble.budgeted(big)
    assert capped.epochs < big.epochs and capped.width == 1024
    assert capped.width ** 2 * 2 * capped.n_points * capped.epochs <= ensemble.BUDGET
    assert ensemble.budgeted_masks(300, LabConfig(width=200)) == 300
    assert 2 <= ensemble.budgeted_masks(300, big) < 300


def test_ensemble_figure(ensembles):
    ens = ensembles["relu"]
    fig = figures.ensemble_figure(ens, max_lines=40)
    thin = [tr for tr in fig.data if tr.legendgroup == "subnets"]
    assert len(thin) == 40 and sum(tr.showlegend for tr in thin) == 1
    average, eval_curve, points = fig.data[40:]
    np.testing.assert_allclose(average.y, ens.subnets.mean(0))  # the average of ALL the sub-networks
    np.testing.assert_allclose(eval_curve.y, ens.eval)
    assert len(points.x) == SMALL.n_points


def test_spread_figure_and_translations(ensembles):
    ens = ensembles["linear"]
    spread, gap = figures.spread_figure(ens, translator("zh")).data
    np.testing.assert_allclose(spread.x, ens.distance)
    np.testing.assert_allclose(spread.y, ens.spread)
    np.testing.assert_allclose(gap.y, ens.gap)
    assert spread.name == catalog("zh")["ensemble.fig.spread"]


# --- the page: the lab's settings come from the link, kept small so it trains in a blink ------

def page(**query) -> AppTest:
    return open_page(PAGE, {"width": "12", "epochs": "40", **query})




def test_page_trains_the_labs_model_and_reports_the_gap():
    at = page()
    assert not at.exception and not at.warning
    assert "12 units" in at.caption[0].value and "40 iterations" in at.caption[0].value
    assert "Gap" in at.markdown[1].value and len(at.get("bidi_component")) == 2
    assert at.query_params["width"] == "12"  # the lab's settings stay in the link


def test_switching_to_linear_and_moving_the_slider():
    at = page()
    at.radio(key="ensemble_act").set_value("linear")
    at.slider(key="ensemble_masks").set_value(200)
    settle(at.run())
    assert not at.exception
    assert "gradient norm" in at.caption[0].value
    assert "200 sub-networks" in at.markdown[1].value
    assert at.query_params["act"] == "linear" and at.query_params["masks"] == "200"


def test_hostile_query_values_are_clamped_with_a_warning():
    at = page(act="tanh", masks="1e9", mask_seed="x", depth="99")
    assert not at.exception
    (warning,) = at.warning
    for name in ("act", "masks", "mask_seed", "depth"):
        assert name in warning.value
    assert at.radio(key="ensemble_act").value == "relu" and at.slider(key="ensemble_masks").value == 300
    assert "6 hidden layers" in at.caption[0].value  # depth clamped to the lab's maximum


def test_p_zero_says_there_is_nothing_to_average():
    at = page(p="0")
    assert not at.exception and at.info


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_languages_show_no_missing_text(lang):
    at = page(lang=lang)
    assert not at.exception
    assert_no_missing_text(at)
    assert at.title[0].value == catalog(lang)["ensemble.title"]


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_charts_are_readable_and_the_eval_curve_is_the_dropout_models_orange(ensembles, lang):
    from tests.chart_checks import BLUE, ORANGE, colors_of, font_sizes, readable
    ens = ensembles["relu"]
    for make in (figures.ensemble_figure, figures.spread_figure):
        fig = make(ens, translator(lang))
        assert readable(fig) == [] and BLUE not in colors_of(fig)
        assert min(font_sizes(make(ens, translator(lang), big=True))) >= 16
    eval_curve = next(tr for tr in figures.ensemble_figure(ens).data if tr.name == catalog("en")["ensemble.fig.eval"])
    assert eval_curve.line.color.upper() == ORANGE
    y_title = figures.spread_figure(ens, translator(lang)).layout.yaxis.title.text
    assert y_title not in ("value", "数值")  # a quantity, not a placeholder
