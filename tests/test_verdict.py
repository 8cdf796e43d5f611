"""The verdict over seeds: counts, medians, "so far" against a conclusion, ties and diverged seeds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from dropviz.config import LabConfig
from dropviz.i18n import translator
from dropviz.train import run
from dropviz.verdict import SeedVerdict, loss, over_seeds, sentence, verdict_text

EN, ZH = translator("en"), translator("zh")
NAN, INF = math.nan, math.inf


def snapshot(test_p0, test_p, status="done", p=0.5, seed=1, iteration=2000, total=2000):
    """What over_seeds reads of a lab snapshot: pairs (p = 0, p) per seed, the charted seed first."""
    n = len(test_p0)
    return SimpleNamespace(all_ps=np.array([0.0, p] * n, np.float32),
                           all_seeds=np.repeat(np.arange(seed, seed + n), 2),
                           all_test_loss=np.column_stack([test_p0, test_p]).ravel().astype(np.float32),
                           iteration=iteration, total=total, status=status)


def test_counts_the_seeds_where_dropout_is_lower_and_takes_each_models_median():
    v = over_seeds(snapshot([0.4, 0.3, 0.5], [0.2, 0.35, 0.1], p=0.3, seed=11))
    assert (v.n, v.wins, v.ties, v.diverged) == (3, 2, 0, 0)
    assert v.seeds == (11, 12, 13) and v.p == pytest.approx(0.3)
    assert v.median_p0 == pytest.approx(0.4) and v.median_p == pytest.approx(0.2)
    assert v.test_p0[0] == pytest.approx(0.4) and v.test_p[0] == pytest.approx(0.2)  # the charted seed first


def test_the_final_verdict_is_a_bold_conclusion_with_k_of_n_and_the_medians():
    text = verdict_text(snapshot([0.4, 0.3, 0.5], [0.2, 0.35, 0.1]), EN)
    assert text.startswith("**Dropout had the lower test loss on 2 of 3 seeds**")
    assert "median 0.2 with p = 0.5 vs 0.4 with p = 0" in text
    assert "The charts show seed 1: test loss 0.2 with dropout vs 0.4 with p = 0." in text
    assert "so far" not in text.lower()


@pytest.mark.parametrize("status", ["running", "cancelled"])
def test_before_the_end_it_says_so_far_and_is_not_bold(status):
    text = verdict_text(snapshot([0.4, 0.3, 0.5], [0.2, 0.35, 0.1], status=status, iteration=520), EN)
    assert text.startswith("So far (iteration 520 of 2,000): dropout has the lower test loss on 2 of 3 seeds")
    assert "**" not in text
    assert not over_seeds(snapshot([0.4], [0.2], status=status)).final


def test_ties_are_not_wins_and_are_said():
    # p = 0 on both sides: the same network, the same losses on every seed.
    v = over_seeds(snapshot([0.4, 0.3], [0.4, 0.3], p=0.0))
    assert (v.wins, v.ties) == (0, 2)
    text = sentence(v, EN)
    assert "on 0 of 2 seeds" in text and "On 2 of the 2 seeds both had the same test loss" in text
    assert "same test loss" not in verdict_text(snapshot([0.4, 0.3], [0.2, 0.35]), EN)


def test_a_diverged_model_counts_as_the_higher_loss():
    # seed 2: dropout diverged (p = 0 lower); seed 3: p = 0 diverged (dropout lower); seed 4: both.
    v = over_seeds(snapshot([0.4, 0.3, INF, NAN], [0.2, NAN, 0.5, INF]))
    assert (v.n, v.wins, v.ties, v.diverged) == (4, 2, 0, 3)
    assert v.median_p0 == INF and v.median_p == INF  # two of four diverged: the median is past every finite loss
    assert over_seeds(snapshot([0.4, 0.3, 0.1], [0.2, NAN, 0.5])).median_p == pytest.approx(0.5)  # NaN ranks highest
    text = verdict_text(snapshot([0.4, 0.3, 0.1], [0.2, NAN, 0.5]), EN)
    assert "on 1 of 3 seeds" in text and "On 1 of the 3 seeds a model's loss became NaN or infinite" in text
    assert loss(INF) == loss(NAN) == "∞" and loss(0.123456) == "0.123"


def test_one_seed_gives_its_numbers_and_a_caution_never_a_winner():
    final = verdict_text(snapshot([0.4], [0.2]), EN)
    assert final.startswith("**Final test loss on this one seed: 0.2 with p = 0.5 vs 0.4 with p = 0.**")
    assert "One seed decides little" in final and "lower" not in final
    running = verdict_text(snapshot([0.4], [0.2], status="running", iteration=20), EN)
    assert running.startswith("So far (iteration 20 of 2,000), on this one seed") and "**" not in running


def test_chinese_says_the_same_numbers():
    text = verdict_text(snapshot([0.4, 0.3, 0.5], [0.2, 0.35, 0.1]), ZH)
    assert text.startswith("**在 3 个种子中，dropout 模型在 2 个上测试损失更低**") and "0.2" in text and "0.4" in text
    assert "目前" in verdict_text(snapshot([0.4, 0.3], [0.2, 0.35], status="running"), ZH)


def test_only_the_labs_pairs_are_read():
    with pytest.raises(ValueError):
        over_seeds(SimpleNamespace(all_ps=np.array([0.5, 0.0]), all_seeds=np.array([1, 1]),
                                   all_test_loss=np.array([0.1, 0.2]), iteration=1, total=1, status="done"))


def test_a_real_runs_verdict_counts_its_seeds():
    config = LabConfig(width=8, depth=2, epochs=30, snapshot_every=10, dataset="linear", n_points=12, device="cpu",
                       n_seeds=4)
    snaps = list(run(config))
    final = over_seeds(snaps[-1])
    test = snaps[-1].all_test_loss.reshape(-1, 2)
    assert final.final and final.n == 4 and final.seeds == (1, 2, 3, 4)
    assert final.wins == int((test[:, 1] < test[:, 0]).sum())
    assert final.median_p0 == pytest.approx(float(np.median(test[:, 0])))
    assert f"on {final.wins} of 4 seeds" in verdict_text(snaps[-1], EN)
    assert all(not over_seeds(s).final for s in snaps[:-1])
    assert isinstance(final, SeedVerdict)
