"""The "Why 1/(1−p)?" lesson: the 10,000-ones experiment's numbers, its figures and its page."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.lessons import open_page, settle
from tests.test_i18n import assert_no_missing_text

from dropviz.i18n import catalog, translator
from dropviz.lesson_figures import scaling as figures
from dropviz.lessons import scaling

N = scaling.N_INPUTS
PAGE = "from dropviz.ui.lessons.scaling import render\nrender()"


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 0.95])
def test_eval_output_is_exactly_ten_thousand_for_any_p(p):
    assert scaling.run(p, 2, "inverted").eval == 10_000.0
    assert scaling.torch_eval(p) == 10_000.0  # nn.Dropout in eval mode: the same


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_vanilla_eval_scales_the_weights_by_the_keep_probability(p):
    assert scaling.run(p, 2, "vanilla").eval == pytest.approx(N * (1 - p), rel=1e-12)


def test_at_half_every_inverted_output_is_even_and_vanilla_ones_are_not():
    inverted = scaling.run(0.5, 300, "inverted", seed=1)
    assert np.array_equal(inverted.train, np.round(inverted.train))  # whole numbers, exactly
    assert np.all(inverted.train % 2 == 0) and inverted.even_share == 1.0
    vanilla = scaling.run(0.5, 300, "vanilla", seed=1)
    assert 0.35 < vanilla.even_share < 0.65  # plain counts: about half odd


@pytest.mark.parametrize("variant,p", [("inverted", 0.5), ("inverted", 0.2), ("inverted", 0.9),
                                       ("vanilla", 0.5), ("vanilla", 0.8)])
def test_train_mean_matches_the_eval_output_and_theory(variant, p):
    r = scaling.run(p, 400, variant, seed=2)
    assert r.theory_mean == pytest.approx(N if variant == "inverted" else N * (1 - p))
    # Same expectation: the training mean is within 5 standard errors of the eval output.
    assert abs(r.mean - r.eval) < 5 * r.stderr
    assert abs(r.mean - r.theory_mean) < 5 * r.stderr
    # The spread: std of a sample of 400 is within ~4 of its own standard errors (~3.5%) of theory.
    assert r.std == pytest.approx(r.theory_std, rel=0.15)


def test_inverted_and_vanilla_agree_with_ten_thousand_times_keep_in_expectation():
    p = 0.3
    inv, van = scaling.run(p, 400, "inverted", seed=3), scaling.run(p, 400, "vanilla", seed=3)
    target = N * (1 - p)
    assert abs(inv.mean * (1 - p) - target) < 5 * inv.stderr * (1 - p)
    assert abs(van.mean - target) < 5 * van.stderr
    assert inv.theory_std == pytest.approx(math.sqrt(N * p / (1 - p)))
    assert van.theory_std == pytest.approx(math.sqrt(N * p * (1 - p)))


def test_torch_nn_dropout_gives_the_same_distribution():
    ours, ref = scaling.run(0.5, 400, "inverted", seed=4), scaling.torch_reference(0.5, 400, seed=4)
    assert abs(ref.mean() - N) < 5 * ours.stderr
    assert ref.std(ddof=1) == pytest.approx(ours.theory_std, rel=0.15)
    assert np.all(ref % 2 == 0)  # torch doubles the kept ones too


@pytest.mark.parametrize("p,draws,seed", [(0.5, 300, 4), (0.3, 600, 3), (0.9, 40, 0), (0.0, 10, 1)])
def test_the_torch_reference_is_nn_dropouts_own_numbers(p, draws, seed):
    """torch_reference draws from its own generator what nn.Dropout draws from the global one:
    the same numbers, bit for bit, when the global one is seeded alike (here, in the test only)."""
    model = torch.nn.Sequential(torch.nn.Dropout(p), scaling.network(), torch.nn.ReLU()).train()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        ones = [torch.ones(min(scaling.CHUNK, draws - start), N, dtype=torch.float64)
                for start in range(0, draws, scaling.CHUNK)]
        expected = torch.cat([model(x)[:, 0] for x in ones]).numpy()
    np.testing.assert_array_equal(scaling.torch_reference(p, draws, seed), expected)


def test_the_draws_follow_the_seed():
    a, b, c = (scaling.run(0.5, 20, seed=s).train for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_zoom_counts_whole_numbers_and_odd_bins_are_empty_at_half():
    r = scaling.run(0.5, 400, seed=7)
    left, counts = scaling.zoom(r.train, r.theory_mean, 20)
    assert len(left) == len(counts) == 41 and left[0] == 9980 and counts.sum() > 0
    assert counts[left % 2 == 1].sum() == 0
    inside = np.sum((r.train >= 9979.5) & (r.train < 10020.5))
    assert counts.sum() == inside


def test_histogram_figure_holds_every_draw_and_the_eval_line():
    r = scaling.run(0.5, 300, seed=8)
    fig = figures.histogram_figure(r)
    bars, eval_line, mean_line = fig.data
    assert bars.type == "bar" and sum(bars.y) == 300
    assert list(eval_line.x) == [10_000.0, 10_000.0] and list(mean_line.x) == [r.theory_mean] * 2
    assert max(eval_line.y) >= max(bars.y)


def test_zoom_figure_and_translations():
    r = scaling.run(0.5, 300, seed=9)
    fig = figures.zoom_figure(r, translator("zh"))
    (bars,) = fig.data
    assert all(c == 0 for x, c in zip(bars.x, bars.y) if x % 2 == 1)
    assert fig.layout.title.text == catalog("zh")["scaling.fig.zoom_title"].format(step="2")
    assert "⟦" not in figures.histogram_figure(r, translator("zh")).to_json()


# --- the page -------------------------------------------------------------------------------



def page(**query) -> AppTest:
    return open_page(PAGE, query)


def test_page_at_defaults_shows_the_numbers():
    at = page()
    assert not at.exception and not at.warning
    shown = "\n".join(m.value for m in at.markdown)
    assert "10,000.00" in shown and "100.0%" in shown  # eval output; every output even
    assert len(at.get("bidi_component")) == 2


def test_moving_controls_updates_numbers_and_url():
    at = page()
    at.slider(key="scaling_p").set_value(0.3)
    at.radio(key="scaling_variant").set_value("vanilla")
    settle(at.run())
    assert not at.exception
    assert "7,000.00" in "\n".join(m.value for m in at.markdown)  # eval = 10,000 × (1 − 0.3)
    assert at.query_params["p"] == "0.3" and at.query_params["variant"] == "vanilla"
    before = at.markdown[2].value
    settle(at.button[0].click().run())  # new masks
    assert at.query_params["seed"] == "1" and at.markdown[2].value != before


def test_hostile_query_values_are_clamped_with_a_warning():
    at = page(p="7", draws="lots", variant="<script>", seed="-3")
    assert not at.exception
    (warning,) = at.warning
    for name in ("p", "draws", "variant", "seed"):
        assert name in warning.value
    assert at.slider(key="scaling_p").value == 0.95
    assert at.slider(key="scaling_draws").value == 500
    assert at.radio(key="scaling_variant").value == "inverted"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_languages_show_no_missing_text(lang):
    at = page(lang=lang, draws="100")
    assert not at.exception
    assert_no_missing_text(at)
    assert at.title[0].value == catalog(lang)["scaling.title"]


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_charts_are_readable_and_leave_blue_to_the_p_0_model(lang):
    from tests.chart_checks import BLUE, colors_of, font_sizes, readable
    r = scaling.run(0.5, 300, seed=9)
    for make in (figures.histogram_figure, figures.zoom_figure):
        fig = make(r, translator(lang))
        assert readable(fig) == [] and BLUE not in colors_of(fig)
        assert min(font_sizes(make(r, translator(lang), big=True))) >= 16
