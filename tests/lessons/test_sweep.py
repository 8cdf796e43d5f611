"""The sweep lesson: its numbers are the engine's single runs, its verdict follows the numbers, its page works."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.i18n import catalog
from dropviz.lesson_figures.sweep import loss_vs_p_figure
from dropviz.lessons.sweep import (SweepSpec, over_budget, p_grid, seeds_from, setting_config, summarise,
                                   verdict)
from dropviz.runner import Runner
from dropviz.train import run
from tests.lessons import open_page, until_done
from tests.test_i18n import assert_no_missing_text

SMALL = LabConfig(width=16, epochs=40, snapshot_every=10, device="cpu")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (tests/conftest.py)."""


def last(snaps):
    *_, snap = snaps
    return snap


def test_the_grid_runs_from_zero_in_steps_and_stays_below_one():
    assert p_grid(0.9, 0.1) == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert p_grid(0.9, 0.15) == (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
    assert p_grid(0.95, 0.5) == (0.0, 0.5)
    assert max(p_grid(1.0, 0.33)) < 1


def test_a_sweep_gives_the_same_losses_as_single_runs_with_the_same_seed_and_p():
    spec = SweepSpec(SMALL, (0.0, 0.5), seeds_from(3, 2))
    swept = last(spec.snapshots(Control()))
    assert swept.status == "done" and list(swept.seeds) == [3, 4, 3, 4] and list(swept.ps) == [0, 0, 0.5, 0.5]
    for seed in (3, 4):
        single = last(run(SMALL.with_(p=0.5, seed=seed)))  # models: p = 0 and p = 0.5, both with this seed
        for p_index, m in ((0, 0), (1, 1)):
            k = 2 * p_index + (seed - 3)
            np.testing.assert_allclose(swept.train_loss[k], single.train_loss[m], rtol=1e-4)
            np.testing.assert_allclose(swept.test_loss[k], single.test_loss[m], rtol=1e-4)


def test_the_summary_groups_by_p_and_reduces_over_seeds():
    swept = last(SweepSpec(SMALL, (0.0, 0.3, 0.6), (1, 2, 3)).snapshots(Control()))
    s = summarise(swept, 3)
    np.testing.assert_allclose(s.ps, [0, 0.3, 0.6], atol=1e-6)
    np.testing.assert_allclose(s.test_med, np.median(swept.test_loss.reshape(3, 3), 1), rtol=1e-6)
    np.testing.assert_allclose(s.train_lo, swept.train_loss.reshape(3, 3).min(1), rtol=1e-6)
    assert s.best == int(np.argmin(s.test_med))


def fake(test, train=None):
    """A sweep snapshot with chosen losses: rows are p = 0, 0.1, …, columns seeds."""
    test = np.asarray(test, float)
    train = np.full_like(test, 0.1) if train is None else np.asarray(train, float)
    ps = np.repeat(np.round(np.arange(len(test)) * 0.1, 1), test.shape[1])
    return summarise(SimpleNamespace(train_loss=train.ravel(), test_loss=test.ravel(), ps=ps), test.shape[1])


def test_the_verdict_follows_the_numbers():
    helps = verdict(fake([[1.0, 1.1], [0.5, 0.6], [1.5, 1.6]]))
    assert helps["kind"] == "helps" and helps["clear"] and helps["best_p"] == pytest.approx(0.1)
    assert helps["hurts_from"] == pytest.approx(0.2)
    overlapping = verdict(fake([[1.0, 0.4], [0.5, 0.6]]))
    assert overlapping["kind"] == "helps" and not overlapping["clear"]
    hurts = verdict(fake([[0.5, 0.5], [0.8, 0.9], [1.5, 1.6]]))
    assert hurts["kind"] == "hurts" and hurts["worst"] == 2
    assert verdict(fake([[1.0, 1.0], [0.995, 0.995]]))["kind"] == "tie"
    diverged = fake([[1.0, 1.0], [0.5, 0.5], [np.nan, np.nan]])
    assert diverged.diverged == 2 and verdict(diverged)["diverged_ps"] == [pytest.approx(0.2)]
    assert verdict(diverged)["last"] == 1


def test_settings_layer_over_the_lab_and_space_the_snapshots():
    narrow = setting_config(LabConfig(epochs=300), "narrow")
    assert narrow.width == 8 and narrow.epochs == 300 and narrow.snapshot_every == 10
    assert setting_config(LabConfig(), "short").epochs == 50
    assert setting_config(LabConfig(width=50), "lab").width == 50


def test_a_sweep_too_big_for_the_budget_is_refused():
    assert over_budget(SweepSpec(SMALL, p_grid(0.9, 0.1), (1, 2, 3))) == 0
    huge = SweepSpec(LabConfig(width=1024, n_points=500, epochs=20_000), p_grid(0.9, 0.05), (1, 2, 3, 4, 5))
    assert over_budget(huge) > 2000


def test_the_runner_shares_and_caches_a_sweep():
    runner = Runner(frame_interval=0.2)
    try:
        spec = SweepSpec(SMALL, (0.0, 0.5), (1,))
        job = runner.watch("a", spec)
        assert runner.watch("b", SweepSpec(SMALL, (0.0, 0.5), (1,))) is job  # equal keys share one job
        assert job.wait(30)
        assert runner.latest("a").status == "done"
        runner.leave("a"), runner.leave("b")
        assert runner.watch("c", spec).latest.status == "done"  # served from the cache, no training
    finally:
        runner.shutdown()


def test_the_figure_marks_the_best_p_and_the_diverged_ones():
    s = fake([[1.0, 1.1], [0.5, 0.6], [np.nan, np.nan]])
    fig = loss_vs_p_figure(s)
    star = fig["data"][-1]
    assert star["x"] == [pytest.approx(0.1)] and star["marker"]["symbol"] == "star"
    medians = [tr for tr in fig["data"] if tr["mode"] == "lines+markers"]
    assert len(medians) == 2 and np.allclose(medians[1]["y"][:2], [1.05, 0.55])
    assert [a["x"] for a in fig["layout"]["annotations"] if a["text"] == "✕"] == [pytest.approx(0.2)]
    label = next(a for a in fig["layout"]["annotations"] if a["text"] not in ("✕",))
    assert label["xanchor"] == "right"  # the last p diverged: its label reads leftwards, inside the plot


# --- the page -------------------------------------------------------------------------------------
APP = "from dropviz.ui.lessons.sweep import render\nrender()"
QUICK = {"width": "8", "epochs": "40", "p_step": "0.3", "seeds_per_p": "2"}



def test_the_page_runs_at_its_defaults(shutdown_runner):
    at = open_page(APP)
    assert not at.exception and not at.warning
    assert "21 networks" in at.caption[0].value  # 7 values of p × 3 seeds


def test_the_page_with_a_control_moved_shows_a_verdict_computed_from_the_run(shutdown_runner):
    at = open_page(APP, QUICK)
    at.radio(key="sweep_setting").set_value("narrow").run()
    assert not at.exception
    assert at.query_params["setting"] == "narrow"  # the choice is in the link
    text = until_done(at, "After 40 iterations")
    assert "p = 0" in text and "⟦" not in text
    assert len(at.get("bidi_component")) == 1


def test_hostile_link_values_are_clamped_with_a_warning(shutdown_runner):
    at = open_page(APP, {"seeds_per_p": "999", "setting": "<script>", "p_step": "nan", "width": "-5", "epochs": "20"})
    assert not at.exception
    warning = at.warning[0].value
    assert "seeds_per_p" in warning and "setting" in warning and "p_step" in warning and "width" in warning
    assert at.session_state["sweep_seeds_per_p"] == 5 and at.session_state["w_n_seeds"] == 1 and at.session_state["sweep_setting"] == "lab"
    assert at.session_state["sweep_p_step"] == 0.15 and at.session_state["w_width"] == 1


def test_the_page_in_chinese_has_no_missing_text(shutdown_runner):
    at = open_page(APP, {**QUICK, "lang": "zh"})
    until_done(at, "40 次迭代之后")
    assert_no_missing_text(at)
    assert at.title[0].value == catalog("zh")["sweep.title"]


# --- charts a student can read (issue 12, point 4) -------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_chart_is_readable_and_leaves_blue_and_orange_to_the_models(lang):
    from dropviz.i18n import translator
    from tests.chart_checks import BLUE, ORANGE, colors_of, font_sizes, readable
    wide = fake([[1.0, 1.1], [0.5, 0.6], [0.3, 0.4]], train=[[1e-6, 1e-5], [1e-3, 1e-3], [0.1, 0.2]])
    for s in (fake([[1.0, 1.1], [0.5, 0.6], [np.nan, np.nan]]), wide):
        fig = loss_vs_p_figure(s, t=translator(lang))
        assert readable(fig) == [] and not {BLUE, ORANGE} & set(colors_of(fig))
        assert min(font_sizes(loss_vs_p_figure(s, t=translator(lang), big=True))) >= 16
