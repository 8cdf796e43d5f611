"""A busy worker sends every k-th snapshot as a frame (Control.frame_stride): the numbers, the loss
history and the pace stay what they are; only the charts move in larger steps."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dropviz import scheduler as scheduler_module
from dropviz.config import LabConfig
from dropviz.control import Control
from dropviz.scheduler import Scheduler, Task
from dropviz.train import run

CONFIG = LabConfig(width=16, depth=2, epochs=130, snapshot_every=10, n_points=8, n_seeds=2)


def frames(stride: int) -> list:
    control = Control()
    control.frame_stride = stride
    return [s for s in run(CONFIG, control) if s is not None]


@pytest.mark.parametrize("stride", [2, 3])
def test_a_stride_sends_fewer_frames_with_the_same_numbers(stride):
    every, thinned = frames(1), frames(stride)
    by_iteration = {s.iteration: s for s in every}
    # The untrained nets, every stride-th snapshot, and the last iteration (130 is not on the grid of 30).
    expected = [0, *range(10 * stride, 130, 10 * stride), 130]
    assert [s.iteration for s in thinned] == expected
    for snap in thinned:
        same = by_iteration[snap.iteration]
        for name in ("train_loss", "test_loss", "all_test_loss", "pred", "masks", "weight_norm"):
            np.testing.assert_array_equal(getattr(snap, name), getattr(same, name), err_msg=name)
    # The history has a row for every snapshot, sent or not, bit for bit.
    for key, column in every[-1].history.items():
        np.testing.assert_array_equal(thinned[-1].history[key], column, err_msg=key)


def test_a_diverging_run_is_named_at_the_snapshot_that_finds_it():
    config = CONFIG.with_(lr=10.0, epochs=400)
    control = Control()
    control.frame_stride = 5
    last = [s for s in run(config, control) if s is not None][-1]
    assert last.status == "diverged"
    assert last.iteration % config.snapshot_every == 0 and last.iteration < config.epochs


def test_a_step_is_always_a_frame():
    control = Control()
    control.frame_stride = 4
    control.step(13)  # paused after 13 iterations: not a snapshot point, and within a stride
    shown = []
    for snap in run(CONFIG, control):
        if snap is None:
            break
        shown.append(snap.iteration)
    assert shown == [0, 13]


def ticking(control: Control):
    n = 0
    while not control.cancelled:
        n += 1
        yield n


def test_the_stride_grows_with_the_paced_runs_a_worker_serves(monkeypatch):
    monkeypatch.setattr(scheduler_module, "FULL_RATE_RUNS", 2)
    scheduler = Scheduler(workers=1, cpu_capacity=10.0)
    try:
        controls = []
        for count in (2, 5, 30):
            while len(controls) < count:
                controls.append(Control(frame_interval=0.02))
                scheduler.submit(Task(ticking(controls[-1]), controls[-1], lambda f: None, lambda e: None, cores=0.01))
            deadline = time.monotonic() + 10
            want = min(scheduler_module.MAX_FRAME_STRIDE, -(-count // 2))
            while time.monotonic() < deadline and any(c.frame_stride != want for c in controls):
                time.sleep(0.02)
            assert [c.frame_stride for c in controls] == [want] * count
    finally:
        for control in controls:
            control.cancel()
        scheduler.shutdown()
