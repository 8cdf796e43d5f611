"""The 2-D classification datasets (dropviz.data2d): Playground's, deterministic from the seed."""

from __future__ import annotations

import numpy as np
import pytest

from dropviz.data2d import DATASETS_2D, Dataset2D, make_dataset_2d


def all_points(d: Dataset2D) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])


@pytest.mark.parametrize("name", DATASETS_2D)
def test_each_dataset_is_the_same_for_a_seed_and_differs_across_seeds(name):
    a, b, other = (make_dataset_2d(name, seed, noise=0.2) for seed in (1, 1, 2))
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, other.x_train)


@pytest.mark.parametrize("name", DATASETS_2D)
def test_shapes_types_range_and_labels(name):
    d = make_dataset_2d(name, 3, n_points=300, noise=0.1, ratio=0.5)
    assert d.x_train.shape == (150, 2) and d.y_train.shape == (150, 1)
    assert d.x_test.shape == (150, 2) and d.y_test.shape == (150, 1)
    x, y = all_points(d)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, 1.0}
    assert np.abs(x).max() < 1.2  # about [-1, 1]²: inside the heatmap's grid at this noise
    assert np.abs(x).max() > 0.6  # and not squeezed into the middle


@pytest.mark.parametrize("name", DATASETS_2D)
def test_labels_are_balanced_without_noise(name):
    _, y = all_points(make_dataset_2d(name, 5, n_points=400, noise=0.0))
    share = y.mean()
    # Every dataset draws half its points per label except xor, whose quadrants are drawn uniformly.
    assert share == 0.5 if name != "xor" else 0.4 < share < 0.6


def test_without_noise_the_labels_are_playgrounds_rules():
    x, y = all_points(make_dataset_2d("circle", 1, noise=0.0))
    inside = np.linalg.norm(x, axis=1) < 2.5 / 6  # radius 2.5 of Playground's 6
    np.testing.assert_array_equal(y[:, 0] == 1, inside)
    x, y = all_points(make_dataset_2d("xor", 1, noise=0.0))
    np.testing.assert_array_equal(y[:, 0] == 1, x[:, 0] * x[:, 1] >= 0)
    x, y = all_points(make_dataset_2d("gaussian", 1, noise=0.0))
    assert x[y[:, 0] == 1].mean(axis=0) == pytest.approx([2 / 6, 2 / 6], abs=0.05)  # blobs at ±(2, 2)
    assert x[y[:, 0] == 0].mean(axis=0) == pytest.approx([-2 / 6, -2 / 6], abs=0.05)


@pytest.mark.parametrize("name", ["gaussian", "spiral", "moons"])
def test_noise_moves_the_same_points_further(name):
    """Noise scales the same draws: at twice the noise each point is moved twice as far."""
    x = {noise: all_points(make_dataset_2d(name, 7, noise=noise))[0] for noise in (0.0, 0.1, 0.2)}
    assert not np.array_equal(x[0.0], x[0.1])
    if name == "gaussian":  # noise widens the blobs: distance from each centre grows by sqrt of the variance ratio
        centre = np.sign(x[0.0]) * 2 / 6
        spread = {n: np.linalg.norm(x[n] - centre, axis=1).mean() for n in x}
        assert spread[0.0] < spread[0.1] < spread[0.2]
    else:
        np.testing.assert_allclose(x[0.2] - x[0.0], 2 * (x[0.1] - x[0.0]), atol=1e-5)


@pytest.mark.parametrize("name", ["circle", "xor"])
def test_noise_flips_labels_near_the_boundary_and_keeps_the_points(name):
    (x0, y0), (x1, y1) = (all_points(make_dataset_2d(name, 7, noise=noise)) for noise in (0.0, 0.3))
    np.testing.assert_array_equal(x0, x1)  # as in Playground, the label is read at a moved point
    flipped = (y0 != y1).mean()
    assert 0.02 < flipped < 0.45


def test_the_ratio_splits_the_same_shuffled_points():
    small, large = (make_dataset_2d("spiral", 2, n_points=200, noise=0.1, ratio=r) for r in (0.3, 0.7))
    assert len(small.x_train) == 60 and len(small.x_test) == 140
    assert len(large.x_train) == 140 and len(large.x_test) == 60
    np.testing.assert_array_equal(all_points(small)[0], all_points(large)[0])  # one order, split elsewhere
    assert 0.3 < small.y_train.mean() < 0.7  # shuffled: both labels on both sides


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown"):
        make_dataset_2d("swirl", 1)
    with pytest.raises(ValueError, match="noise"):
        make_dataset_2d("circle", 1, noise=0.6)
    with pytest.raises(ValueError, match="ratio"):
        make_dataset_2d("circle", 1, ratio=1.0)


def test_the_grid_is_row_major_over_the_square():
    points, xs, ys = Dataset2D.grid(50)
    assert points.shape == (2500, 2) and points.dtype == np.float32
    assert xs[0] == ys[0] == pytest.approx(-1.2) and xs[-1] == ys[-1] == pytest.approx(1.2)
    grid = points.reshape(50, 50, 2)  # as predictions reshape for a heatmap's z[i][j]
    np.testing.assert_array_equal(grid[3, 7], [xs[7], ys[3]])
    np.testing.assert_array_equal(grid[:, 0, 0], np.full(50, xs[0]))  # x changes along a row
    assert Dataset2D.grid(64)[0].shape == (4096, 2)
