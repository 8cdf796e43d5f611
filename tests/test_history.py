"""The loss history: bounded, evenly spaced, always starting at the first row."""

from __future__ import annotations

import numpy as np
import pytest

from dropviz.history import MAX_POINTS, History


def row(i: int, models: int = 2, layers: int = 3):
    """A row whose values encode its iteration, so kept rows can be checked against what was added."""
    return i, np.full(models, float(i)), np.full(models, -float(i)), np.full((layers, models), float(i))


def test_empty_history_has_shaped_arrays():
    h = History()
    a = h.arrays()
    assert len(h) == 0
    assert a["iteration"].shape == (0,) and a["train"].shape[0] == 0 and a["test"].shape[0] == 0
    assert a["weight_norm"].ndim == 3 and a["weight_norm"].shape[0] == 0


def test_below_the_bound_every_row_is_kept_in_order():
    h = History(max_points=50)
    for i in range(40):
        h.add(*row(i * 5))
    a = h.arrays()
    np.testing.assert_array_equal(a["iteration"], np.arange(40) * 5)
    assert a["train"].shape == (40, 2) and a["test"].shape == (40, 2) and a["weight_norm"].shape == (40, 3, 2)
    np.testing.assert_array_equal(a["train"][:, 0], a["iteration"])
    np.testing.assert_array_equal(a["test"][:, 1], -a["iteration"])
    np.testing.assert_array_equal(a["weight_norm"][:, 2, 1], a["iteration"])


@pytest.mark.parametrize("max_points,rows", [(8, 1000), (10, 777), (MAX_POINTS, 20_000)])
def test_bounded_evenly_spaced_and_spanning(max_points, rows):
    h = History(max_points=max_points)
    for i in range(rows):
        h.add(*row(i))
        assert len(h) <= max_points
    its = h.arrays()["iteration"]
    assert len(its) in (len(h), len(h) + 1) and len(h) >= max_points // 2  # thinned, not emptied
    assert its[0] == 0  # the first row is always kept
    assert its[-1] == rows - 1  # and the newest, kept or not
    steps = np.diff(its[:len(h)])
    assert np.all(steps == steps[0]) and steps[0] == h.stride > 1  # one row in `stride`, evenly
    assert 0 < its[-1] - its[len(h) - 1] <= h.stride or len(its) == len(h)
    a = h.arrays()  # rows stay intact through the thinning
    np.testing.assert_array_equal(a["train"][:, 1], its)
    np.testing.assert_array_equal(a["weight_norm"][:, 0, 0], its)


def test_default_bound_is_small_enough_for_charts():
    assert 100 <= MAX_POINTS <= 10_000
    assert History().max_points == MAX_POINTS


def test_the_newest_row_is_always_last_even_when_thinning_skips_it():
    h = History(max_points=8)
    for i in range(1, 1502):  # epochs=1501, snapshot_every=1: the thinned rows skip iteration 1501
        h.add(*row(i))
        a = h.arrays()
        assert a["iteration"][-1] == i and a["train"][-1, 0] == i and a["weight_norm"][-1, 0, 0] == i
        assert len(a["iteration"]) <= 8 and np.all(np.diff(a["iteration"]) > 0)  # the bound holds with it


def test_a_history_handed_out_never_changes_afterwards():
    h = History(max_points=8)
    for i in range(20):
        h.add(*row(i))
    before = {k: v.copy() for k, v in h.arrays().items()}
    handed = h.arrays()
    for i in range(20, 60):
        h.add(*row(i))
    for k in before:
        np.testing.assert_array_equal(handed[k], before[k])
