"""Pause, resume, single-step and cancel a run from another thread, stepped by the scheduler."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dropviz.config import LabConfig
from dropviz.control import DETAILS, RUN, STOP, YIELD, Control, details_for, drive
from dropviz.scheduler import Scheduler, Task
from dropviz.train import run

# A run far too long to finish during a test: every test ends it with cancel().
ENDLESS = LabConfig(width=4, depth=1, epochs=20_000, snapshot_every=1, dataset="linear", device="cpu")
JOIN_TIMEOUT = 20.0  # generous: a liveness check, not a timing assert
SETTLE = 0.25  # seconds without a new snapshot that count as "stopped"


class Worker:
    """Steps run(config, control) on a scheduler of its own, as the runner does."""

    def __init__(self, config: LabConfig, control: Control):
        self.control, self.snaps, self.error = control, [], None
        self.done = threading.Event()
        self.scheduler = Scheduler(workers=1)
        self.scheduler.submit(Task(run(config, control), control, self.snaps.append, self._end))

    def _end(self, error):
        self.error = error
        self.done.set()

    def trained(self):
        return [s for s in self.snaps if s.iteration > 0 or s.status != "running"]

    def wait_for(self, predicate, timeout=JOIN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "the scheduler did not get there"
            assert self.error is None, self.error
            time.sleep(0.005)

    def settle(self):
        """Wait until no snapshot arrives for SETTLE seconds; return the count."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        while True:
            n = len(self.snaps)
            time.sleep(SETTLE)
            if len(self.snaps) == n:
                return n
            assert time.monotonic() < deadline, "the run never stopped"

    def finish(self):
        self.control.cancel()
        assert self.done.wait(JOIN_TIMEOUT)
        assert self.error is None, self.error
        assert self.snaps[-1].status == "cancelled"
        self.scheduler.shutdown()


@pytest.fixture
def workers():
    started = []
    yield lambda config, control: started.append(Worker(config, control)) or started[-1]
    for w in started:  # never leave a worker behind, even when a test fails
        w.control.cancel()
        w.scheduler.shutdown()


def iterations(snaps):
    return [s.iteration for s in snaps if s.status == "running"]


def test_pause_step_resume_cancel(workers):
    w = workers(ENDLESS, Control(frame_interval=0.002))
    w.wait_for(lambda: len(w.trained()) >= 3)

    w.control.pause()
    paused_at = len(w.snaps)
    n = w.settle()
    assert n - paused_at <= 1  # at most the iteration already under way
    frozen = w.snaps[-1].iteration
    time.sleep(2 * SETTLE)
    assert len(w.snaps) == n and w.snaps[-1].iteration == frozen  # paused: no progress
    assert w.control.paused

    w.control.step(1)
    w.wait_for(lambda: len(w.snaps) == n + 1)
    assert w.snaps[-1].iteration == frozen + 1 and w.snaps[-1].status == "running"
    assert w.settle() == n + 1  # exactly one iteration

    w.control.step(3)
    w.wait_for(lambda: len(w.snaps) == n + 4)
    assert iterations(w.snaps[-3:]) == [frozen + 2, frozen + 3, frozen + 4]
    assert w.settle() == n + 4

    w.control.resume()
    assert not w.control.paused
    w.wait_for(lambda: len(w.snaps) >= n + 20)
    its = iterations(w.snaps)
    assert its == list(range(its[0], its[0] + len(its)))  # no iteration skipped or repeated

    w.finish()
    assert w.snaps[-1].iteration >= frozen + 16


def test_step_runs_exact_iterations_between_snapshot_intervals(workers):
    w = workers(ENDLESS.with_(snapshot_every=7), Control(frame_interval=0.002))
    w.wait_for(lambda: len(w.trained()) >= 1)
    w.control.pause()
    n = w.settle()
    w.control.step(1)  # the paused iteration is unknown: the first step tells it
    w.wait_for(lambda: len(w.snaps) == n + 1)
    start = w.snaps[-1].iteration
    for size in [1, 1, 2, 5, 9]:
        before = len(w.snaps)
        w.control.step(size)
        w.wait_for(lambda: w.snaps[-1].iteration >= start + size)
        w.settle()
        new = iterations(w.snaps[before:])
        assert new[-1] == start + size  # exactly `size` iterations, and a snapshot after the last
        # On the way, only the regular interval snapshots.
        assert new[:-1] == [it for it in range(start + 1, start + size) if it % 7 == 0]
        start += size
    w.finish()


def test_a_step_ending_on_an_interval_leaves_no_stray_snapshot(workers):
    every = 2
    w = workers(ENDLESS.with_(snapshot_every=every), Control(frame_interval=0.002))
    w.wait_for(lambda: len(w.trained()) >= 1)
    w.control.pause()
    n = w.settle()
    while w.snaps[-1].iteration % every != 1:  # each step(1) gives one snapshot, stepped or regular
        w.control.step(1)
        w.wait_for(lambda: len(w.snaps) == n + 1)
        n += 1
    w.control.step(1)  # ends on a multiple of `every`: the regular snapshot covers it
    w.wait_for(lambda: len(w.snaps) == n + 1)
    assert w.snaps[-1].iteration % every == 0
    n = w.settle()
    w.control.resume()
    w.wait_for(lambda: len(w.snaps) >= n + 10)
    assert all(it % every == 0 for it in iterations(w.snaps[n:]))
    w.finish()


def test_pause_after_resume_is_not_undone_by_unused_steps(workers):
    w = workers(ENDLESS, Control(frame_interval=0.002))
    w.wait_for(lambda: len(w.trained()) >= 1)
    w.control.step(10_000)
    w.control.resume()  # the steps are abandoned: the run goes on freely
    w.wait_for(lambda: len(w.trained()) >= 5)
    w.control.pause()
    at_pause = w.snaps[-1].iteration
    w.settle()
    assert w.snaps[-1].iteration - at_pause <= 2
    w.finish()


def test_cancel_is_noticed_within_one_snapshot_interval(workers):
    every = 50
    w = workers(ENDLESS.with_(snapshot_every=every), Control())  # flat out, no pacing
    w.wait_for(lambda: len(w.trained()) >= 2)
    w.control.cancel()
    n = len(w.snaps)
    assert w.done.wait(JOIN_TIMEOUT) and w.error is None
    after = w.snaps[n:]
    assert after[-1].status == "cancelled"
    assert len([s for s in after if s.status == "running"]) <= 1  # no second interval started
    assert after[-1].iteration - w.snaps[n - 1].iteration <= every
    assert w.snaps[-1].iteration < ENDLESS.epochs


def test_cancel_wakes_a_paused_run(workers):
    w = workers(ENDLESS, Control(frame_interval=0.002))
    w.wait_for(lambda: len(w.trained()) >= 1)
    w.control.pause()
    frozen = w.snaps[w.settle() - 1].iteration
    w.finish()
    assert w.snaps[-1].iteration == frozen


def test_cancel_wakes_a_run_waiting_for_its_next_frame(workers):
    w = workers(ENDLESS, Control(frame_interval=3600.0))  # next frame due in an hour
    w.wait_for(lambda: len(w.trained()) >= 1)
    w.finish()  # joined: the cancel cut the hour-long wait short
    assert len(iterations(w.trained())) <= 2  # it was waiting, not training


def test_cancel_before_the_first_iteration():
    control = Control()
    control.cancel()
    snaps = list(run(ENDLESS, control))
    assert snaps[-1].status == "cancelled" and snaps[-1].iteration == 0
    assert np.isfinite(snaps[-1].train_loss).all()


def test_step_credit_without_a_scheduler():
    c = Control()
    assert c.next_iteration() == RUN and not c.stepped()  # running: no step bookkeeping
    c.step(2)
    assert c.paused
    assert c.next_iteration() == RUN and not c.stepped()
    assert c.next_iteration() == RUN and c.stepped() and not c.stepped()  # once, after the last stepped iteration
    assert c.next_iteration() == YIELD  # paused, no steps left: hand the worker back
    c.cancel()
    assert c.next_iteration() == STOP and c.cancelled


def test_show_is_an_op_when_it_changes_and_a_mirror_replays_it():
    c, woken = Control(), []
    c.on_change = lambda: woken.append(1)
    assert c.shows == DETAILS  # nobody said anything: everything
    c.show(details_for(["fit", "loss"]))
    c.show(frozenset())  # the same again (every poll says it): no op, no wake-up
    c.show(details_for(["fit", "net_p"]))
    assert c.ops == [("show", frozenset()), ("show", frozenset({"net"}))] and len(woken) == 2
    mirror = Control()  # a worker process's copy
    for op in c.ops:
        mirror.apply(op)
    assert mirror.shows == {"net"}
    assert details_for(["hist", "net_p0", "masks"]) == DETAILS


def test_a_run_yields_its_worker_when_its_time_slice_is_over():
    c = Control()
    frames = run(ENDLESS.with_(snapshot_every=1000), c)
    assert next(frames).iteration == 0
    c.slice_end = time.monotonic()  # over at once: the next iteration is not trained
    assert next(frames) is None
    c.slice_end = time.monotonic() + 3600
    assert next(frames).iteration == 1000  # the run goes on where it was, to its next snapshot
    c.cancel()


def test_drive_steps_a_run_in_this_thread_and_waits_while_paused():
    c = Control()
    c.step(3)  # paused after three iterations
    frames = drive(run(ENDLESS.with_(snapshot_every=1), c), c)
    assert [next(frames).iteration for _ in range(4)] == [0, 1, 2, 3]
    threading.Timer(0.05, c.cancel).start()  # drive() waits for the pause to end; a cancel ends it
    assert next(frames).status == "cancelled"
