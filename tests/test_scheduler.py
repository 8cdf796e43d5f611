"""The scheduler: many runs on a few workers, paced ones on time, admission by CPU and memory.

Tasks here are small generators of our own (no torch), so each test says exactly what a task
does with its worker. Counts, not timings, are asserted: "each paced task got most of its
frames while a flat-out task ran" rather than "within 5 ms".
"""

from __future__ import annotations

import threading
import time

import pytest

from dropviz import scheduler as scheduler_module
from dropviz.control import YIELD, Control
from dropviz.scheduler import Scheduler, Task, usable_cores
from tests.waiting import wait_for



def paced_frames(control: Control):
    """A paced run: a frame at every step, each costing next to nothing, forever."""
    n = 0
    while True:
        if control.next_iteration() == YIELD and control.paused:
            yield None
            continue
        if control.cancelled:
            return
        n += 1
        yield n


def hog(control: Control):
    """A flat-out run that would keep its worker forever: it only stops at its slice's end."""
    while not control.cancelled:
        while control.next_iteration() != YIELD and not control.cancelled:
            pass  # busy: CPU-bound training
        yield None


class Recorder:
    """A task's frames and its end, for assertions."""

    def __init__(self, frames, control: Control, **task_args):
        self.frames, self.ended, self.error = [], threading.Event(), None
        self.task = Task(frames, control, self.frames.append, self._end, **task_args)

    def _end(self, error):
        self.error = error
        self.ended.set()


@pytest.fixture
def make_scheduler():
    made = []

    def make(**kwargs) -> Scheduler:
        made.append(Scheduler(**kwargs))
        return made[-1]

    yield make
    for s in made:
        s.shutdown()


def submit(scheduler: Scheduler, make_frames, interval: float = 0.0, **task_args) -> Recorder:
    control = Control(frame_interval=interval)
    rec = Recorder(make_frames(control), control, **task_args)
    assert scheduler.submit(rec.task)
    return rec


def test_usable_cores_count_the_affinity_and_the_container_limit(monkeypatch):
    monkeypatch.setattr(scheduler_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(scheduler_module, "_cgroup_cpu_quota", lambda: None)
    assert usable_cores() == 4
    monkeypatch.setattr(scheduler_module, "_cgroup_cpu_quota", lambda: 1.5)  # docker --cpus=1.5
    assert usable_cores() == 2
    monkeypatch.setattr(scheduler_module.os, "sched_getaffinity", lambda pid: {3}, raising=False)  # taskset -c 3
    assert usable_cores() == 1


def test_a_flat_out_run_cannot_starve_paced_ones(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=10.0)
    hogs = [submit(scheduler, hog, cores=0.1) for _ in range(2)]
    paced = [submit(scheduler, paced_frames, interval=0.05, cores=0.01) for _ in range(5)]
    start = time.monotonic()
    time.sleep(1.5)
    elapsed = time.monotonic() - start
    # At 20 frames a second each paced run is owed ~30 frames: it gets most of them, though the
    # only worker also serves two runs that would take it forever.
    for rec in paced:
        assert len(rec.frames) >= 0.5 * elapsed / 0.05, [len(r.frames) for r in paced]
    assert all(h.task.cpu_seconds > 0.1 for h in hogs)  # and the hogs got their slices too


def test_paced_runs_take_no_thread_each(make_scheduler):
    scheduler = make_scheduler(workers=2, cpu_capacity=10.0)
    threads = threading.active_count()
    recs = [submit(scheduler, paced_frames, interval=0.1, cores=0.01) for _ in range(300)]
    wait_for(lambda: all(len(r.frames) >= 2 for r in recs), what="every run's second frame")
    assert threading.active_count() == threads
    assert scheduler.stats()["live"] == 300


def test_admission_by_cpu_queues_in_order_and_says_where_each_stands(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=1.0)
    running = [submit(scheduler, paced_frames, interval=0.05, cores=0.45) for _ in range(2)]
    waiting = [submit(scheduler, paced_frames, interval=0.05, cores=0.45) for _ in range(3)]
    assert [scheduler.position(r.task) for r in running] == [None, None]
    places = [scheduler.position(r.task) for r in waiting]
    assert [ahead for ahead, _ in places] == [0, 1, 2]
    assert places[0][1] < places[1][1] < places[2][1]  # the wait grows with the place in line
    running[0].task.control.cancel()  # a run ends: the first in line starts
    wait_for(lambda: scheduler.position(waiting[0].task) is None, what="the first waiting run to start")
    assert [scheduler.position(r.task)[0] for r in waiting[1:]] == [0, 1]


def test_a_run_that_leaves_the_queue_never_runs_and_frees_its_place(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=1.0)
    submit(scheduler, paced_frames, interval=0.05, cores=1.0)
    left, after = (submit(scheduler, paced_frames, interval=0.05, cores=1.0) for _ in range(2))
    left.task.control.cancel()
    assert left.ended.wait(2) and left.frames == []
    assert scheduler.position(after.task)[0] == 0


def test_memory_is_bounded_server_wide(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=10.0, memory_capacity=100)
    first = submit(scheduler, paced_frames, interval=0.05, cores=0.01, memory=60)
    second = submit(scheduler, paced_frames, interval=0.05, cores=0.01, memory=60)
    assert scheduler.position(first.task) is None and scheduler.position(second.task)[0] == 0
    assert scheduler.stats()["memory"] == 60
    first.task.control.cancel()
    wait_for(lambda: scheduler.position(second.task) is None, what="the second run to fit")


def test_the_queue_is_bounded(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=1.0, max_waiting=2)
    submit(scheduler, paced_frames, interval=0.05, cores=1.0)
    submit(scheduler, paced_frames, interval=0.05, cores=1.0)
    submit(scheduler, paced_frames, interval=0.05, cores=1.0)
    control = Control(frame_interval=0.05)
    assert not scheduler.submit(Recorder(paced_frames(control), control, cores=1.0).task)


def test_a_paused_run_is_parked_uses_no_cpu_share_and_wakes_on_resume(make_scheduler):
    scheduler = make_scheduler(workers=1, cpu_capacity=1.0)
    paused = submit(scheduler, paced_frames, interval=0.05, cores=1.0)
    wait_for(lambda: len(paused.frames) >= 2, what="the first frames")
    paused.task.control.pause()
    wait_for(lambda: paused.task.state == "parked", what="the paused run to leave the worker")
    other = submit(scheduler, paced_frames, interval=0.05, cores=1.0)  # fits: a parked run uses nothing
    assert scheduler.position(other.task) is None
    count = len(paused.frames)
    paused.task.control.resume()
    wait_for(lambda: len(paused.frames) > count, what="the resumed run's next frame")


def test_an_error_ends_that_run_alone(make_scheduler):
    def broken(control):
        yield 1
        raise ValueError("boom")

    scheduler = make_scheduler(workers=1, cpu_capacity=10.0)
    bad = submit(scheduler, broken, cores=0.01)
    good = submit(scheduler, paced_frames, interval=0.02, cores=0.01)
    assert bad.ended.wait(5) and isinstance(bad.error, ValueError) and bad.frames == [1]
    count = len(good.frames)
    wait_for(lambda: len(good.frames) > count + 3, what="the other run to go on")


def test_shutdown_ends_every_run_once_and_joins_the_workers(make_scheduler):
    threads = threading.active_count()
    scheduler = Scheduler(workers=2, cpu_capacity=1.0)
    recs = [submit(scheduler, paced_frames, interval=0.05, cores=0.4) for _ in range(4)]  # two run, two wait
    paused = recs[0]
    paused.task.control.pause()
    scheduler.shutdown()
    assert all(r.ended.is_set() for r in recs)
    assert threading.active_count() == threads  # the workers are gone with the scheduler


def test_a_paced_run_that_fell_behind_catches_up_back_to_back(make_scheduler):
    """A frame that took long (a busy worker) is not added to the run's length: the frames it owes
    come at once, until it is back on its schedule."""
    interval, stamps = 0.05, []

    def slow_once(control: Control):
        for n in range(40):
            if n == 5:
                time.sleep(8 * interval)  # this frame is 8 frames late
            stamps.append(time.monotonic())
            yield n

    scheduler = make_scheduler(workers=1, cpu_capacity=10.0)
    rec = submit(scheduler, slow_once, interval=interval, cores=0.01)
    assert rec.ended.wait(10)
    after = [b - a for a, b in zip(stamps[5:], stamps[6:12])]  # the six gaps after the late frame
    assert sum(gap < interval / 2 for gap in after) >= 5, after  # owed frames back to back, not one per interval
