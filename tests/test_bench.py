"""`bench`'s snapshot figures: the parts it times are what a frame's snapshot is made of, and the
report puts them beside a training step. (Speed itself is never asserted: `bench` measures it.)"""

from __future__ import annotations

import numpy as np

from dropviz import bench
from dropviz.config import preset

SMALL = preset("source", device="cpu").with_(width=16)
PARTS = ["history row", "grid forward", "masks", "histograms"]


def test_the_timed_parts_compute_what_the_snapshot_holds():
    parts = bench.snapshot_parts(SMALL, steps=3)
    assert list(parts) == ["training step", "snapshot", bench.FIT_AND_LOSS, *PARTS]
    snap = parts["snapshot"]()  # the same weights and masks for every part below: the same numbers
    row = parts["history row"]()
    np.testing.assert_array_equal(row.all_train, snap.all_train_loss)
    np.testing.assert_array_equal(row.norms, snap.weight_norm)
    np.testing.assert_array_equal(parts["grid forward"]()[..., 0].numpy(), snap.pred)
    masks, drop_rate = parts["masks"]()
    assert masks.shape == (2, SMALL.depth, SMALL.n_points, SMALL.width)
    np.testing.assert_array_equal(masks, snap.masks)
    np.testing.assert_array_equal(drop_rate, snap.drop_rate)
    for (counts, edges), (shown, shown_edges) in zip(parts["histograms"](), snap.weight_hist, strict=True):
        np.testing.assert_array_equal(counts, shown)
        np.testing.assert_array_equal(edges, shown_edges)
    lean = parts[bench.FIT_AND_LOSS]()  # ?hide=charts_extra: the same numbers, no histograms, no network view
    assert lean.weight_hist == [] and lean.net is None and snap.net is not None
    np.testing.assert_array_equal(lean.pred, snap.pred)
    parts["training step"]()
    assert not np.array_equal(parts["history row"]().all_train, row.all_train)  # the step trained


def test_the_report_puts_the_snapshot_and_its_parts_beside_a_training_step():
    costs = bench.snapshot_costs(SMALL, repeats=2, seconds=0.02)
    assert set(costs) == {"training step", "snapshot", bench.FIT_AND_LOSS, *PARTS}
    for cost in costs.values():
        assert 0 < cost["seconds"] <= cost["median_seconds"]
    text = "\n".join(bench.snapshot_report(costs, threads=1))
    assert "a frame's snapshot of the pair" in text and "training steps of" in text and "1 thread(s)" in text
    assert "with the fit and the loss only (?hide=charts_extra" in text
    for name in [*PARTS, "the rest"]:
        assert any(line.strip().startswith(name) for line in text.splitlines()), name
