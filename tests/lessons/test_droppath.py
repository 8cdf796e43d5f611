"""The "Dropout vs DropPath" lesson: mask shapes and drop rates on a residual block, figures, page."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.lessons import open_page, settle
from tests.test_i18n import assert_no_missing_text

from dropviz.i18n import catalog, translator
from dropviz.lesson_figures import droppath as figures
from dropviz.lessons import droppath

S, F, R = droppath.SAMPLES, droppath.FEATURES, droppath.REPEATS
PAGE = "from dropviz.ui.lessons.droppath import render\nrender()"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_droppath_zeroes_whole_rows_and_dropout_single_entries(p):
    r = droppath.run(p, seed=1)
    assert droppath.partial_rows(r.droppath_keep) == 0  # every sample: all kept or all dropped
    assert droppath.partial_rows(r.dropout_keep) > S // 2  # dropout leaves mixed rows
    dropped = r.droppath_keep[:, 0] == 0
    assert r.identity_rows == dropped.sum() > 0  # a dropped branch leaves y = x exactly
    np.testing.assert_array_equal(r.droppath_out[dropped], r.x[dropped])
    np.testing.assert_allclose(r.droppath_out[~dropped], r.x[~dropped] + r.fx[~dropped] / (1 - p), rtol=1e-5)
    kept = r.dropout_keep == 1
    np.testing.assert_allclose(r.dropout_out[kept], (r.x + r.fx / (1 - p))[kept], rtol=1e-5)
    np.testing.assert_array_equal(r.dropout_out[~kept], r.x[~kept])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_both_drop_at_rate_p_but_droppath_varies_more_per_batch(p):
    r = droppath.run(p, seed=2)
    # Mean over R batches: within 5 standard errors of p.
    assert abs(r.dropout_rates.mean() - p) < 5 * droppath.rate_std(p, S * F * R)
    assert abs(r.droppath_rates.mean() - p) < 5 * droppath.rate_std(p, S * R)
    # Batch-to-batch spread: binomial over 2,048 entries vs over 32 samples (std of a std: ~3.5% at R=400).
    assert r.dropout_rates.std(ddof=1) == pytest.approx(droppath.rate_std(p, S * F), rel=0.2)
    assert r.droppath_rates.std(ddof=1) == pytest.approx(droppath.rate_std(p, S), rel=0.2)
    assert r.droppath_rates.std() > 4 * r.dropout_rates.std()


@pytest.mark.parametrize("seed", [0, 5])
def test_the_branch_is_initialised_as_nn_linear_would_be_from_the_seed(seed):
    """The branch's init comes from its own generator: what nn.Linear draws from the global one
    seeded alike (here, in the test only), bit for bit."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        expected = torch.nn.Sequential(torch.nn.Linear(F, F), torch.nn.ReLU(), torch.nn.Linear(F, F))
    ours = droppath.branch(F, seed)
    for (name, a), b in zip(ours.state_dict().items(), expected.state_dict().values()):
        assert torch.equal(a, b), name


def test_p_zero_drops_nothing_and_the_seed_decides_the_masks():
    r = droppath.run(0.0)
    assert r.dropout_rate == r.droppath_rate == 0 and r.identity_rows == 0
    a, b, c = (droppath.run(0.5, seed=s).droppath_keep for s in (3, 3, 4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_masks_figure_shows_both_masks():
    r = droppath.run(0.3, seed=5)
    left, right = figures.masks_figure(r).data
    assert left.type == right.type == "heatmap"
    np.testing.assert_array_equal(np.asarray(left.z), r.dropout_keep)
    np.testing.assert_array_equal(np.asarray(right.z), r.droppath_keep)
    assert np.asarray(right.z).shape == (S, F)


def test_rates_figure_counts_every_batch_and_marks_p():
    r = droppath.run(0.3, seed=6)
    fig = figures.rates_figure(r, translator("zh"))
    dropout_bars, droppath_bars, p_line = fig.data
    assert sum(dropout_bars.y) == sum(droppath_bars.y) == R
    assert list(p_line.x) == [0.3, 0.3]
    assert dropout_bars.name == catalog("zh")["droppath.fig.dropout"]
    assert "⟦" not in fig.to_json() + figures.masks_figure(r, translator("zh")).to_json()


# --- the page -------------------------------------------------------------------------------

def page(**query) -> AppTest:
    return open_page(PAGE, query)




def test_page_at_defaults_and_with_p_moved():
    at = page()
    assert not at.exception and not at.warning and len(at.get("bidi_component")) == 2
    assert "p = 0.2" in at.markdown[1].value
    settle(at.slider(key="droppath_p").set_value(0.5).run())
    assert not at.exception and "p = 0.5" in at.markdown[1].value and at.query_params["p"] == "0.5"
    before = at.markdown[1].value
    settle(at.button[0].click().run())
    assert at.query_params["seed"] == "1" and at.markdown[1].value != before


def test_hostile_query_values_are_clamped_with_a_warning():
    at = page(p="1.5", seed="nan")
    assert not at.exception
    (warning,) = at.warning
    assert "p" in warning.value and "seed" in warning.value
    assert at.slider(key="droppath_p").value == 0.9


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_lesson_says_what_it_changed_in_its_language_the_links_text_as_code(lang):
    at = page(lang=lang, p="9", seed="[x](http://y)")
    (warning,) = at.warning
    texts = catalog(lang)
    assert warning.value.startswith(texts["droppath.url_warning"].format(names=""))
    assert texts["notices.outside"].format(name="p", value="`'9'`", used="`0.9`", lo="0", hi="0.9") in warning.value
    assert texts["notices.not_a_number"].format(name="seed", value="`'[x](http://y)'`", used="`0`") in warning.value
    assert (lang == "zh") == ("超出范围" in warning.value)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_both_languages_show_no_missing_text(lang):
    at = page(lang=lang)
    assert not at.exception
    assert_no_missing_text(at)
    assert at.title[0].value == catalog(lang)["droppath.title"]


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_charts_are_readable_and_leave_blue_to_the_p_0_model(lang):
    from tests.chart_checks import BLUE, ORANGE, colors_of, font_sizes, readable
    r = droppath.run(0.3, seed=6)
    for make in (figures.masks_figure, figures.rates_figure):
        fig = make(r, translator(lang))
        assert readable(fig) == []
        assert BLUE not in colors_of(fig) and ORANGE in colors_of(fig)  # dropout orange, DropPath not blue
        assert min(font_sizes(make(r, translator(lang), big=True))) >= 16
