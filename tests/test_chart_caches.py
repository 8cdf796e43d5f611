"""The chart caches are bounded in bytes (issue 11, point 4): ByteLRU, and lab_charts over big snapshots."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from dropviz import train
from dropviz.config import LabConfig
from dropviz.runner import Frame
from dropviz.ui import lab_charts
from dropviz.ui.byte_lru import ByteLRU


def test_filling_past_the_budget_evicts_the_least_recently_used():
    cache = ByteLRU(max_bytes=100)
    for name in "abcd":
        cache.put(name, name.upper(), 30)
    assert "a" not in cache and [cache.get(k) for k in "bcd"] == ["B", "C", "D"]
    assert cache.nbytes == 90
    cache.get("b")  # used: now the newest
    cache.put("e", "E", 30)
    assert "c" not in cache and all(k in cache for k in "bde") and cache.nbytes == 90


def test_one_big_value_evicts_as_many_as_it_takes_and_a_too_big_one_is_not_kept():
    cache = ByteLRU(max_bytes=100)
    for name in "abc":
        cache.put(name, name, 30)
    cache.put("big", "big", 80)
    assert list(k for k in "abc" if k in cache) == [] and cache.nbytes == 80
    cache.put("huge", "huge", 101)
    assert "huge" not in cache and "big" in cache and cache.nbytes == 80


def test_putting_a_key_again_replaces_its_size():
    cache = ByteLRU(max_bytes=100)
    cache.put("a", 1, 60)
    cache.put("a", 2, 10)
    assert cache.get("a") == 2 and cache.nbytes == 10 and len(cache) == 1
    cache.put("a", 3, 200)  # too big now: gone, not left at its old size
    assert "a" not in cache and cache.nbytes == 0


@pytest.fixture(scope="module")
def small_snapshot():
    config = LabConfig(width=8, depth=2, epochs=40, snapshot_every=20, device="cpu")
    return list(train.run(config))[-1]


def test_big_snapshots_do_not_pile_up_in_the_chart_caches(small_snapshot):
    """The issue's case: 6 MB snapshots (its masks: width 1024, depth 6, 500 points), each drawn and
    streamed once, then let go by the runner. The caches keep their charts' bytes, within the
    budgets, and none of the snapshots."""
    masks = (2, 2, 500, 3072)  # (models, depth, points, width) uint8: 6 MB, at the small run's depth
    n = 24  # 144 MB of snapshots, well past both budgets together
    gone = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            snap = dataclasses.replace(small_snapshot, masks=np.full(masks, i % 2, np.uint8))
            lab_charts.encoded_charts(snap, "en", i)
            lab_charts.frame_body(Frame(snap, i, False), "en", tuple(lab_charts.CHARTS), gzipped=True)
            gone.append(weakref.ref(snap))
            del snap
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    kept = sum(ref() is not None for ref in gone)
    assert kept == 0, f"the chart caches keep {kept} of {n} snapshots alive"
    assert held < lab_charts.ENCODED_CHARTS_BYTES + lab_charts.FRAME_BYTES, held
    assert held < 2 * np.prod(masks), f"{held / 1e6:.0f} MB held after {n} snapshots of 6 MB"


def test_a_cached_chart_is_the_same_bytes_for_the_same_snapshot_only(small_snapshot):
    first = lab_charts.encoded_charts(small_snapshot, "en", 7)
    assert lab_charts.encoded_charts(small_snapshot, "en", 7) is first  # encoded once
    other = dataclasses.replace(small_snapshot, iteration=small_snapshot.iteration + 1)
    assert lab_charts.encoded_charts(other, "en", 7) is not first
