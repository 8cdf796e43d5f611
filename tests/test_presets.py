"""The presets over seeds: the Classroom lesson holds on 19+ of 20 seeds with the real engine, the
page's figures (config.PRESET_OVER_SEEDS) are what the engine gives, and the tally and table of
`python -m dropviz seeds` count what they say."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dropviz import cli
from dropviz.config import PRESET_OVER_SEEDS, PRESETS, LabConfig, preset
from dropviz.i18n import LANGS, missing, translator
from dropviz.seeds import (DEFAULT_GRID, SEEDS, SeedTally, candidates, over_seeds, preset_of, preset_sentence,
                           tally)
from dropviz.train import run

TINY = dict(width=8, depth=1, epochs=30, device="cpu")


def made_up(p0: list[float], p: list[float], seeds=None) -> SeedTally:
    seeds = tuple(seeds or range(1, len(p0) + 1))
    return SeedTally("made up", preset("classroom"), seeds, tuple(p0), tuple(p))


# --- the tally's arithmetic (no training) ---------------------------------------------------------------

def test_tally_counts_seeds_where_dropout_is_lower_and_takes_medians():
    t = made_up([1.0, 1.0, 2.0, 4.0], [0.5, 1.5, 1.0, 1.0])
    assert t.lower_by_seed == (True, False, True, True) and t.wins == 3 and t.n == 4
    assert t.median_p0 == 1.5 and t.median_p == 1.0
    # The median of the per-seed ratios (0.5, 1.5, 0.5, 0.25), not the ratio of the medians (0.667).
    assert t.median_ratio == 0.5


def test_a_tie_is_not_a_win_and_a_diverged_model_loses():
    t = made_up([1.0, math.nan, 1.0], [1.0, 0.3, math.inf])
    assert t.lower_by_seed == (False, True, False)  # tie; p = 0 diverged; dropout diverged
    # As the page's verdict counts them: a diverged loss ranks highest (medians 1.0 and 1.0), and in
    # the ratios (1, 0 for dropout against a diverged p = 0, ∞ for a diverged dropout) too.
    assert t.median_p0 == 1.0 and t.median_p == 1.0 and t.median_ratio == 1.0
    assert not t.holds()
    worse = made_up([1.0, 1.0, 1.0], [math.nan, math.inf, 0.5])
    assert worse.median_p == math.inf and worse.median_ratio == math.inf
    assert worse.to_dict()["median_test_p"] is None and worse.to_dict()["median_ratio"] is None  # JSON has no ∞
    json.dumps(t.to_dict(), allow_nan=False)


def test_fewest_wins_looks_at_every_window_of_consecutive_seeds():
    lower = [1, 1, 0, 1, 1, 1, 0, 0, 1, 1]
    t = made_up([1.0] * 10, [0.5 if w else 2.0 for w in lower])
    assert t.fewest_wins(10) == t.wins == 7
    assert t.fewest_wins(3) == 1  # seeds 6-8: 1, 0, 0
    assert t.fewest_wins(1) == 0
    with pytest.raises(ValueError):
        t.fewest_wins(11)


@pytest.mark.parametrize("wins,ratio,holds", [(19, 0.5, True), (20, 0.6, True), (18, 0.5, False), (20, 0.61, False)])
def test_holds_needs_19_of_20_seeds_and_a_median_ratio_of_at_most_0_6(wins, ratio, holds):
    p0 = [1.0] * 20
    p = [ratio] * wins + [1.5] * (20 - wins)
    if wins < 20:  # keep the median ratio at `ratio`: the losing seeds sit above it
        assert sorted(d / b for b, d in zip(p0, p))[9:11] == [ratio, ratio]
    assert made_up(p0, p).holds() is holds


def test_tally_takes_a_sweeps_p_major_models_apart():
    class Snap:  # sweep(config, [0, p], seeds) orders its models (0, s1), (0, s2), …, (p, s1), …
        test_loss = np.array([1.0, 2.0, 3.0, 0.5, 2.5, 1.0], dtype=np.float32)
    t = tally("x", preset("classroom"), [7, 8, 9], Snap())
    assert t.seeds == (7, 8, 9) and t.test_p0 == (1.0, 2.0, 3.0) and t.test_p == (0.5, 2.5, 1.0)
    assert t.wins == 2


def test_over_seeds_gives_each_seeds_own_pair_of_models():
    config = preset("classroom", **TINY)
    t = over_seeds(config, [3, 4])
    for seed, p0, p in zip(t.seeds, t.test_p0, t.test_p):
        *_, single = run(config.with_(seed=seed))  # the lab's own pair at this seed
        np.testing.assert_allclose([p0, p], single.test_loss, rtol=1e-4, atol=1e-6)
    assert t.test_p0[0] != t.test_p0[1]  # two seeds, two different data sets


def test_over_seeds_refuses_p_0_and_repeated_seeds():
    with pytest.raises(ValueError, match="p=0"):
        over_seeds(preset("classroom", p=0.0, **TINY), [1, 2])
    with pytest.raises(ValueError, match="distinct"):
        over_seeds(preset("classroom", **TINY), [1, 1])


# --- candidates ------------------------------------------------------------------------------------------

def test_candidates_are_each_preset_times_the_grid_once_each():
    rows = candidates(["source", "classroom"], DEFAULT_GRID)
    configs = [c for _, c in rows]
    assert len(configs) == len(set(configs)) == 2 * 3 * 2
    labels = dict((c, label) for label, c in rows)
    assert labels[preset("source")] == "source preset"
    assert labels[preset("source", n_points=30, noise=1.0)] == "source, n_points=30, noise=1"
    assert candidates(["classroom"], {"noise": (1.0, PRESETS["classroom"]["noise"])}) == \
        [("classroom preset", preset("classroom"))]  # the same setting twice is trained once


def test_how_a_run_is_watched_does_not_make_another_setting():
    rows = candidates(["classroom"], {"device": ("cpu",), "snapshot_every": (40,)})
    assert [label for label, _ in rows] == ["classroom preset"]
    assert preset_of(rows[0][1]) == "classroom"
    assert preset_of(preset("classroom", n_points=11)) is None


# --- the command ---------------------------------------------------------------------------------------------

def table_rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| setting")]


def test_seeds_prints_one_row_per_setting_with_its_tally(capsys, tmp_path):
    path = tmp_path / "seeds.json"
    argv = ["seeds", "--presets", "classroom", "--seeds", "1,...,4", "--noise", "0.5,1", "--window", "3",
            "--markdown", "--json", str(path), "--width", "8", "--depth", "1", "--epochs", "30", "--device", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    rows, doc = table_rows(out), json.loads(path.read_text())
    assert [r[0] for r in rows] == ["classroom, width=8, depth=1, epochs=30, noise=0.5",
                                    "classroom, width=8, depth=1, epochs=30"]
    assert "over seeds 1–4" in out
    for row, entry in zip(rows, doc):
        t = SeedTally(entry["label"], LabConfig(**entry["config"]), tuple(entry["seeds"]),
                      tuple(entry["test_p0"]), tuple(entry["test_p"]))
        assert row[1] == f"linear, 20 points, noise {t.config.noise:g}" and row[2] == "0.5"
        assert row[3] == f"{t.wins} of 4 seeds" and entry["dropout_lower"] == t.wins
        assert row[4] == f"{t.fewest_wins(3)} of 3"
        assert [float(c) for c in row[5:8]] == pytest.approx([t.median_p0, t.median_p, t.median_ratio], abs=0.006)
        assert row[8] == ("yes" if t.holds() else "no")
    assert doc[0]["seeds"] == [1, 2, 3, 4] and len(doc[0]["test_p"]) == 4


def test_figures_are_the_dict_for_config_of_the_presets_as_they_are():
    as_is = SeedTally("source preset", preset("source", snapshot_every=40), (11, 12, 13), (1.0, 2.0, 3.0),
                      (0.5, 2.5, 1.2345))
    changed = SeedTally("classroom, epochs=20", preset("classroom", epochs=20), (1, 2), (1.0, 1.0), (0.5, 0.5))
    namespace = {"Any": object}
    exec(cli.figures_literal([as_is, changed]), namespace)
    assert namespace["PRESET_OVER_SEEDS"] == {"source": dict(seeds=(11, 13), n=3, lower=2, median_p0=2.0,
                                                             median_p=1.23, median_ratio=0.5)}


@pytest.mark.parametrize("argv,message", [
    (["--presets", "nope"], "preset='nope'"),
    (["--noise", "0.5,9"], "noise=9"),
    (["--p", "0"], "p=0"),
    (["--seeds", "1,2", "--window", "3"], "window=3"),
    (["--seeds", "x"], "seeds"),
    (["--seed", "3"], "seed=3: this command trains every seed of --seeds"),
])
def test_seeds_rejects_bad_arguments_before_training(argv, message, capsys):
    assert cli.main(["seeds", "--no-grid", "--epochs", "5", "--width", "4", *argv]) == 2
    assert message in capsys.readouterr().err


def test_results_adds_the_table_over_seeds(capsys, tmp_path):
    path = tmp_path / "results.json"
    assert cli.main(["results", "--seeds", "1", "--over-seeds", "1,...,3", "--epochs", "20", "--device", "cpu",
                     "--json", str(path)]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out.split("Over seeds 1–3")[1])
    assert [r[0] for r in rows] == ["source, epochs=20", "classroom, epochs=20"]
    assert all(r[3].endswith(" of 3 seeds") for r in rows)
    doc = json.loads(path.read_text())
    assert doc["classroom"]["over_seeds"]["seeds"] == [1, 2, 3]
    assert f"{doc['classroom']['over_seeds']['dropout_lower']} of 3 seeds" == rows[1][3]


# --- the page's sentence ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", list(LANGS))
def test_the_page_sentence_quotes_the_figures(lang):
    t = translator(lang)
    assert set(PRESET_OVER_SEEDS) == set(PRESETS)
    for name, fig in PRESET_OVER_SEEDS.items():
        text = preset_sentence(name, t)
        assert missing("")[0] not in text
        for number in (f"{fig['lower']}", f"{fig['n']}", f"{fig['median_p']:.3f}", f"{fig['median_p0']:.3f}"):
            assert number in text, (name, number, text)
    assert preset_sentence("custom", t) == ""


def test_the_sentence_says_whether_the_lesson_holds():
    t = translator("en")
    assert "does not reliably help" in preset_sentence("source", t)
    assert "does not reliably help" not in preset_sentence("classroom", t)
    assert "does not reliably help" not in preset_sentence("boundary", t)


# --- the presets with the real engine (20 seeds × 2 models × 2,000 iterations each) ---------------------------

@pytest.fixture(scope="module")
def classroom_run():
    snaps = []
    t = over_seeds(preset("classroom"), SEEDS, "classroom preset", on_snapshot=snaps.append)
    return t, snaps[-1]


@pytest.mark.slow
def test_classroom_lesson_holds_on_19_of_20_seeds(classroom_run):
    t, _ = classroom_run
    assert t.n == 20 and t.seeds == tuple(range(11, 31))
    assert t.wins >= 19, t.lower_by_seed
    assert t.median_ratio <= 0.6
    assert t.holds()


@pytest.mark.slow
def test_classroom_p0_chases_the_noise_and_dropout_stays_near_the_line(classroom_run):
    """What the fit shows: p = 0 goes through the noisy points (train loss near 0), dropout does not,
    and dropout's curve stays closer to the true line on [-1, 1] on nearly every seed."""
    t, snap = classroom_run
    k, noise_var = t.n, PRESETS["classroom"]["noise"] ** 2
    train0, train1 = snap.train_loss[:k], snap.train_loss[k:]
    assert np.median(train0) < 0.1 * noise_var and np.median(train1) > 0.5 * noise_var
    inside = np.abs(snap.x_grid) <= 1
    truth = 1.5 * snap.x_grid[inside]
    off0 = np.abs(snap.pred[:k, inside] - truth).mean(axis=1)
    off1 = np.abs(snap.pred[k:, inside] - truth).mean(axis=1)
    assert (off1 < off0).sum() >= 19 and np.median(off1) < 0.7 * np.median(off0)


@pytest.fixture(scope="module")
def boundary_run():
    snaps = []
    t = over_seeds(preset("boundary"), SEEDS, "boundary preset", on_snapshot=snaps.append)
    return t, snaps[-1]


def boundary_length(prob: np.ndarray) -> np.ndarray:
    """Per model, (M,): neighbouring cells of the 50 × 50 heatmap on opposite sides of P = 0.5, a
    measure of the decision boundary's length (islands around single points add to it)."""
    side = prob > 0.5
    return (side[:, 1:, :] != side[:, :-1, :]).sum(axis=(1, 2)) + (side[:, :, 1:] != side[:, :, :-1]).sum(axis=(1, 2))


@pytest.mark.slow
def test_the_2d_boundary_lesson_holds_on_19_of_20_seeds(boundary_run):
    t, snap = boundary_run
    assert snap.task == "classification" and t.n == 20
    assert t.wins >= 19 and t.holds(), t.lower_by_seed


@pytest.mark.slow
def test_boundary_p0_learns_the_flipped_labels_and_dropouts_boundary_is_smoother(boundary_run):
    """What the heatmaps show: p = 0 classifies every training point right, flipped labels included,
    with islands around them; dropout's boundary is shorter on nearly every seed, and it classifies
    fresh points at least as well (the test loss differs most: p = 0 is confidently wrong)."""
    t, snap = boundary_run
    k = t.n
    assert np.median(snap.train_acc[:k]) == 1.0 and np.median(snap.train_loss[:k]) < 0.01
    assert np.median(snap.train_acc[k:]) < 1.0
    p0, dropout = boundary_length(snap.prob[:k]), boundary_length(snap.prob[k:])
    assert (dropout < p0).sum() >= 19 and np.median(dropout) < 0.85 * np.median(p0), (p0, dropout)
    assert np.median(snap.test_acc[k:]) >= np.median(snap.test_acc[:k])


@pytest.mark.slow
def test_the_page_figures_are_what_the_engine_gives(classroom_run, boundary_run):
    assert set(PRESET_OVER_SEEDS) == set(PRESETS)
    runs = {"classroom": classroom_run[0], "boundary": boundary_run[0]}
    for name, fig in PRESET_OVER_SEEDS.items():
        t = runs[name] if name in runs else over_seeds(preset(name), SEEDS, name)
        now = t.figures()
        assert {k: now[k] for k in ("seeds", "n", "lower")} == {k: fig[k] for k in ("seeds", "n", "lower")}, name
        for key in ("median_p0", "median_p", "median_ratio"):
            assert now[key] == pytest.approx(fig[key], rel=0.01), (name, key)
    assert not preset_of(preset("source", n_points=11))
