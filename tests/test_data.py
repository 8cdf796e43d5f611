"""Data: deterministic from the seed, the source's same-x test points, fresh held-out points.
The 1-D datasets here; the 2-D ones in tests/test_data2d.py, and make_dataset's dispatch to them below."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dropviz.config import DATASETS_1D as DATASETS, DATASETS_2D, LabConfig, preset
from dropviz.data import GRID_POINTS, HELD_OUT_POINTS, SOURCE_TEST_NOISE, TARGETS, make_dataset

FIELDS = [f.name for f in dataclasses.fields(make_dataset(LabConfig()))]


def target(name: str, x: np.ndarray) -> np.ndarray:
    return TARGETS[name](torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("dataset", DATASETS_2D)
def test_a_2d_dataset_is_playgrounds_points_split_by_ratio(dataset):
    from dropviz.data2d import make_dataset_2d

    config = LabConfig(dataset=dataset, seed=7, n_points=100, noise=0.2, ratio=30)
    got, again = make_dataset(config), make_dataset(config)
    want = make_dataset_2d(dataset, 7, 100, 0.2, 0.3)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        np.testing.assert_array_equal(getattr(got, name), getattr(again, name))
    assert (len(got.x_train), len(got.x_test)) == (30, 70)


@pytest.mark.parametrize("dataset", DATASETS)
def test_same_seed_same_data(dataset):
    c = LabConfig(dataset=dataset, seed=7)
    a, b = make_dataset(c), make_dataset(c)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("dataset", DATASETS)
def test_different_seeds_differ(dataset):
    a, b = make_dataset(LabConfig(dataset=dataset, seed=1)), make_dataset(LabConfig(dataset=dataset, seed=2))
    assert not np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_test, b.y_test) or not np.array_equal(a.x_test, b.x_test)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("n", [2, 10, 37])
def test_shapes_and_dtypes(dataset, n):
    d = make_dataset(LabConfig(dataset=dataset, n_points=n))
    n_test = n if dataset == "source" else HELD_OUT_POINTS
    shapes = {"x_train": (n, 1), "y_train": (n, 1), "x_test": (n_test, 1), "y_test": (n_test, 1),
              "x_grid": (GRID_POINTS, 1), "y_grid": (GRID_POINTS, 1)}
    for name, shape in shapes.items():
        arr = getattr(d, name)
        assert isinstance(arr, np.ndarray) and arr.shape == shape and arr.dtype == np.float32, name
        assert np.isfinite(arr).all(), name
    assert np.all(np.diff(d.x_grid[:, 0]) > 0) and d.x_grid.min() <= -1 and d.x_grid.max() >= 1
    np.testing.assert_allclose(d.y_grid, target(dataset, d.x_grid), rtol=1e-6)
    tensors = d.tensors(torch.device("cpu"))
    assert set(tensors) == set(FIELDS) and all(isinstance(t, torch.Tensor) for t in tensors.values())


def test_source_data_follows_the_source_demo():
    d = make_dataset(preset("source"))
    np.testing.assert_allclose(d.x_train[:, 0], np.linspace(-1, 1, 10), atol=1e-6)
    np.testing.assert_array_equal(d.x_test, d.x_train)  # test points at the same x
    assert not np.array_equal(d.y_test, d.y_train)  # ... with their own noise


@pytest.mark.parametrize("noise", [0.5, 1.0])
def test_source_noise_levels(noise):
    """Training noise has the configured std, test noise 0.3; the two are independent draws."""
    n = 500
    d = make_dataset(LabConfig(dataset="source", n_points=n, noise=noise, seed=3))
    train_noise = (d.y_train - 1.5 * d.x_train)[:, 0]
    test_noise = (d.y_test - 1.5 * d.x_test)[:, 0]
    # The sample std of n normals has std ≈ σ / √(2n); allow 5 of those.
    assert abs(train_noise.std() - noise) < 5 * noise / np.sqrt(2 * n)
    assert abs(test_noise.std() - SOURCE_TEST_NOISE) < 5 * SOURCE_TEST_NOISE / np.sqrt(2 * n)
    # Independent: the correlation of n independent pairs is ≈ N(0, 1/n).
    assert abs(np.corrcoef(train_noise, test_noise)[0, 1]) < 5 / np.sqrt(n)


@pytest.mark.parametrize("dataset", [d for d in DATASETS if d != "source"])
def test_held_out_points_are_fresh_and_clean(dataset):
    d = make_dataset(LabConfig(dataset=dataset, n_points=10))
    assert d.x_test.min() >= -1 and d.x_test.max() <= 1
    assert len(np.unique(d.x_test)) == HELD_OUT_POINTS
    assert not np.isin(d.x_test, d.x_train).any()  # fresh x, not the training x
    # Measured against the clean target: the test loss is the distance from the truth.
    np.testing.assert_allclose(d.y_test, target(dataset, d.x_test), rtol=1e-6)


@pytest.mark.parametrize("dataset", [d for d in DATASETS if d != "source"])
def test_held_out_points_do_not_depend_on_the_training_noise(dataset):
    quiet = make_dataset(LabConfig(dataset=dataset, noise=0.1))
    loud = make_dataset(LabConfig(dataset=dataset, noise=2.0))
    assert not np.array_equal(quiet.y_train, loud.y_train)
    np.testing.assert_array_equal(quiet.x_test, loud.x_test)
    np.testing.assert_array_equal(quiet.y_test, loud.y_test)


@pytest.mark.parametrize("dataset", DATASETS)
def test_noise_free_training_points_lie_on_the_target(dataset):
    d = make_dataset(LabConfig(dataset=dataset, noise=0.0, n_points=25))
    np.testing.assert_allclose(d.y_train, target(dataset, d.x_train), rtol=1e-6)
    np.testing.assert_allclose(d.x_train[:, 0], np.linspace(-1, 1, 25), atol=1e-6)


def test_targets_are_different_functions():
    x = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    curves = {name: target(name, x) for name in DATASETS if name != "linear"}
    names = list(curves)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.allclose(curves[a], curves[b]), (a, b)
