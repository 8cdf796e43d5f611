"""The costs lesson: dropout needs more iterations, BatchNorm after dropout sees a variance shift, the page works."""

from __future__ import annotations

import numpy as np
import pytest

from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.lesson_figures.costs import bn_figure, convergence_figure
from dropviz.lessons.costs import bn_curve, bn_variance, convergence_spec, iterations_to
from tests.lessons import open_page, until_done
from tests.test_i18n import assert_no_missing_text


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (tests/conftest.py)."""


def test_iterations_to_is_the_first_recorded_crossing():
    history = {"iteration": np.array([0, 10, 20, 30]),
               "train": np.array([[1.0, 1.0, 1.0], [0.5, 0.9, np.nan], [0.2, 0.3, np.nan], [0.25, 0.2, np.nan]])}
    assert iterations_to(history, 0.3) == [20, 20, None]
    assert iterations_to(history, 0.2) == [20, 30, None]
    assert iterations_to(history, 0.01) == [None, None, None]


def test_dropout_needs_more_iterations_to_reach_a_train_loss():
    spec = convergence_spec(LabConfig(width=32, epochs=300, device="cpu"), (0.0, 0.5))
    assert spec.config.snapshot_every == 1 and spec.seeds == (1,)
    *_, snap = spec.snapshots(Control())
    assert snap.status == "done"
    base, dropped = iterations_to(snap.history, 0.1)
    assert base is not None and (dropped is None or dropped > base)
    assert snap.train_loss[1] > snap.train_loss[0]


def test_without_dropout_bn_sees_the_same_variance_in_train_and_eval_mode():
    s = bn_variance(0.0, draws=5)
    assert s.train_in == pytest.approx(s.eval_in, rel=1e-5)
    assert s.running == pytest.approx(s.eval_in, rel=1e-4)
    assert s.eval_out == pytest.approx(s.train_out, rel=0.02)


def test_with_dropout_bn_learns_the_train_variance_and_mis_scales_eval():
    s = bn_variance(0.5, draws=20)
    assert s.train_in > 1.5 * s.eval_in  # dropout's noise inflates the batch variance
    assert s.running == pytest.approx(s.train_in, rel=0.05)  # what BN learned is the train-mode value
    assert s.predicted == pytest.approx(s.train_in, rel=0.1)  # (σ² + μ²)/(1 - p) - μ²
    assert s.eval_out < 0.7 * s.train_out  # eval activations come out too small


def test_the_shift_grows_with_p():
    curve = bn_curve([0.0, 0.3, 0.6], draws=10)
    shift = [s.train_in / s.eval_in for s in curve]
    assert shift[0] == pytest.approx(1, rel=1e-5) and shift[0] < shift[1] < shift[2]


def test_the_figures_draw_every_p_and_mark_the_crossings():
    history = {"iteration": np.arange(4) * 10, "train": np.array([[1.0, 1.0], [0.5, 0.9], [0.2, 0.6], [0.1, 0.4]])}
    fig = convergence_figure(history, np.array([0.0, 0.5]), 0.3, [20, None], 30)
    lines = [tr for tr in fig["data"] if tr["mode"] == "lines"]
    marks = [tr for tr in fig["data"] if tr["mode"] == "markers"]
    assert len(lines) == 2 and len(marks) == 1 and marks[0]["x"] == [20] and marks[0]["y"] == [0.3]
    bn = bn_figure(bn_curve([0.0, 0.5], draws=3), 0.5)
    assert len(bn["data"]) == 6 and all(len(tr["x"]) == 2 for tr in bn["data"])


# --- the page -------------------------------------------------------------------------------------
APP = "from dropviz.ui.lessons.costs import render\nrender()"
QUICK = {"width": "8", "epochs": "40"}



def test_the_page_runs_at_its_defaults(shutdown_runner):
    at = open_page(APP)
    assert not at.exception and not at.warning and not at.error
    bn = bn_variance(0.5, draws=20)  # what the page computes for its default p
    assert f"{bn.train_in:.3g}" in at.markdown[-1].value and f"{bn.eval_in:.3g}" in at.markdown[-1].value


def test_the_page_with_a_control_moved_shows_measured_iterations(shutdown_runner):
    at = open_page(APP, QUICK)
    at.slider(key="costs_bn_p").set_value(0.0).run()
    assert not at.exception and at.query_params["bn_p"] == "0.0"
    assert "p = 0:" in at.markdown[-1].value or "p = 0：" in at.markdown[-1].value
    text = until_done(at, "After 40 iterations")
    assert "p = 0 " in text and "p = 0.25" in text


def test_hostile_link_values_are_clamped_with_a_warning(shutdown_runner):
    at = open_page(APP, {"target": "0", "bn_p": "inf", "p1": "x", "epochs": "20"})
    assert not at.exception
    warning = at.warning[0].value
    assert "target" in warning and "bn_p" in warning and "p1" in warning
    assert at.session_state["costs_target"] == 0.001 and at.session_state["costs_bn_p"] == 0.9
    assert at.session_state["costs_p1"] == 0.25


def test_the_page_in_chinese_has_no_missing_text(shutdown_runner):
    at = open_page(APP, {**QUICK, "lang": "zh"})
    until_done(at, "40 次迭代之后")
    assert_no_missing_text(at)


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
def test_the_charts_are_readable_in_both_languages_and_big():
    from dropviz.i18n import translator
    from tests.chart_checks import font_sizes, readable
    history = {"iteration": np.arange(4) * 10, "train": np.array([[1.0, 1.0, 1.0], [0.5, 0.9, 0.95],
                                                                  [0.2, 0.6, 0.8], [0.1, 0.4, 0.7]])}
    stats = bn_curve([0.0, 0.3, 0.5], draws=3)
    for lang in ("en", "zh"):
        for fig in (convergence_figure(history, np.array([0.0, 0.2, 0.5]), 0.3, [20, None, None], 30, t=translator(lang)),
                    bn_figure(stats, 0.5, t=translator(lang))):
            assert readable(fig) == []
    assert min(font_sizes(bn_figure(stats, 0.5, big=True))) >= 16


def test_p_0_is_blue_and_the_dropout_ps_orange_shades():
    from tests.chart_checks import BLUE, ORANGE, colors_of
    history = {"iteration": np.arange(2), "train": np.ones((2, 3))}
    lines = [tr for tr in convergence_figure(history, np.array([0.0, 0.2, 0.5]), 0.3, [None] * 3, 2)["data"]]
    colours = [colors_of({"data": [tr]})[0] for tr in lines]
    assert colours[0] == BLUE and BLUE not in colours[1:] and len(set(colours)) == 3
    for colour in colours[1:]:  # orange family: red above green above blue
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert r > g > b
    one = convergence_figure({"iteration": np.arange(2), "train": np.ones((2, 2))}, np.array([0.0, 0.5]), 0.3,
                             [None] * 2, 2)
    assert [colors_of({"data": [tr]})[0] for tr in one["data"]] == [BLUE, ORANGE]


def test_the_bn_chart_gives_each_legend_entry_its_own_look():
    """Six lines, four legend entries: train mode (orange) and eval mode (blue) in both panels, BN's
    running variance and the formula; no two entries drawn alike."""
    fig = bn_figure(bn_curve([0.0, 0.5], draws=3), 0.5)
    shown = [tr for tr in fig["data"] if tr.get("showlegend", True)]
    looks = {(tr["line"]["color"], tr["line"].get("dash")) for tr in shown}
    assert len(shown) == 4 and len(looks) == 4
    for tr in fig["data"]:  # every line is in its entry's colour, whichever panel
        entry = next(s for s in shown if s["legendgroup"] == tr["legendgroup"])
        assert tr["line"]["color"] == entry["line"]["color"]
