"""The runner: shared runs, the results cache, private forks, the queue, leases, failures.

Tiny configs (width 8) and short frame intervals keep every test well under a second or two.
Each test builds its own Runner (with its own scheduler) and shuts it down, so no thread outlives it.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import dropviz.runner as runner_module
import dropviz.workers as workers_module
from dropviz.config import LabConfig, preset
from dropviz.control import DETAILS
from dropviz.runner import Queued, Runner
from dropviz.scheduler import Scheduler
from dropviz.train import Snapshot
from tests.waiting import wait_for

TINY = LabConfig(width=8, depth=2, epochs=2000, snapshot_every=20, device="cpu")
FIT_AND_LOSS = ["fit", "loss"]  # the lab's charts with ?hide=charts_extra
EVERY_CHART = ["fit", "loss", "net_p0", "net_p", "masks", "norms", "hist", "seeds"]



def dropviz_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dropviz-")]


def one_run_at_a_time(**kwargs) -> dict:
    """Runner arguments for a scheduler that admits one flat-out run at a time (each needs a core)."""
    return dict(scheduler=Scheduler(workers=1, cpu_capacity=1.0), frame_interval=0, **kwargs)


def iteration(runner: Runner, viewer: str) -> int:
    snap = runner.latest(viewer)
    return snap.iteration if isinstance(snap, Snapshot) else -1


@pytest.fixture
def make_runner():
    """Factory for runners that are shut down (threads joined) after the test."""
    made: list[Runner] = []

    def make(workers: int = 2, **kwargs) -> Runner:
        kwargs.setdefault("frame_interval", 0.01)
        kwargs.setdefault("scheduler", Scheduler(workers=workers))
        made.append(Runner(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.shutdown()
    for r in made:  # a test that failed half-way must not leave work to the next one
        for job in {*r._by_viewer.values(), *r._shared.values()}:
            assert job.wait(5)


# --- sharing ------------------------------------------------------------------------------
def test_two_viewers_with_identical_settings_share_one_job(make_runner):
    runner = make_runner(frame_interval=0.02, lease_seconds=30)
    a = runner.watch("a", TINY)
    wait_for(lambda: iteration(runner, "a") >= 200, what="the shared run to reach iteration 200")

    b = runner.watch("b", LabConfig(**TINY.to_dict()))  # equal settings, a different object
    assert b is a
    assert runner.scheduler.stats()["live"] == 1, "the second viewer must not start a run"
    assert set(a.viewers) == {"a", "b"}
    assert runner.stats()["jobs"] == 1 and runner.stats()["viewers"] == 2

    # The newcomer joins at the current state, and sees the history so far.
    snap = runner.latest("b")
    assert isinstance(snap, Snapshot) and snap.iteration >= 200
    its = snap.history["iteration"]
    assert its[0] == 0 and its[-1] == snap.iteration and len(its) >= 200 // TINY.snapshot_every


def test_a_finished_run_is_cached_and_served_at_once_without_training(make_runner):
    runner = make_runner(frame_interval=0)
    config = TINY.with_(epochs=200)
    first = runner.watch("a", config)
    first.wait(10)
    assert first.latest.status == "done" and first.latest.iteration == 200
    runner.leave("a")  # the last viewer left a finished run: it is filed, not thrown away
    assert runner.stats()["cached"] == 1 and runner.stats()["jobs"] == 0

    again = runner.watch("b", config)
    assert again is not first and again.task is None and again.finished
    assert runner.scheduler.stats()["live"] == 0
    snap = runner.latest("b")
    assert snap.status == "done" and snap.iteration == 200
    np.testing.assert_array_equal(snap.pred, first.latest.pred)


def test_a_finished_run_whose_viewers_hid_charts_is_not_cached(make_runner):
    # Its last snapshot has no histograms nor network view; the next viewer may show them.
    runner = make_runner(frame_interval=0)
    config = TINY.with_(epochs=200)
    assert runner.watch("a", config, charts=FIT_AND_LOSS).wait(10)
    runner.leave("a")
    assert runner.stats()["cached"] == 0
    assert runner.watch("b", config).wait(10)  # trained again, showing everything
    runner.leave("b")
    assert runner.stats()["cached"] == 1


def test_the_reaper_files_a_finished_shared_run_while_it_is_still_watched(make_runner):
    runner = make_runner(frame_interval=0, lease_seconds=30)
    config = TINY.with_(epochs=200)
    runner.watch("a", config).wait(10)
    runner.reap()
    assert runner.stats()["cached"] == 1
    assert runner.watch("b", config) is runner.job_of("a")  # still shared while "a" watches


def test_the_cache_is_bounded_in_bytes(make_runner):
    probe = make_runner(frame_interval=0)
    probe.watch("a", TINY.with_(epochs=20, seed=99)).wait(10)
    probe.leave("a")
    one = probe.stats()["cached_bytes"]
    assert one > 0
    runner = make_runner(frame_interval=0, cache_bytes=int(2.5 * one))
    for seed in range(4):
        config = TINY.with_(epochs=20, seed=seed)
        runner.watch("a", config).wait(10)
        runner.leave("a")
    assert runner.stats()["cached"] == 2 and runner.stats()["cached_bytes"] <= 2.5 * one
    assert list(runner._done) == [TINY.with_(epochs=20, seed=s) for s in (2, 3)]  # least recent dropped



def test_stats_read_the_cache_while_finished_runs_are_filed(make_runner, monkeypatch):
    """The page asks stats() on every rerun while runs end and file themselves into the cache (under
    the runner's lock) in other threads: it read the cache without that lock, and a class saw
    "OrderedDict mutated during iteration" as a traceback (load test, 60 students)."""
    runner = make_runner(frame_interval=0)
    monkeypatch.setattr(runner_module, "snapshot_bytes", lambda s: 1)
    done = type("Snap", (), {"status": "done"})()
    jobs = [type("Job", (), {"latest": done, "private": False, "finished": True, "config": i})() for i in range(400)]
    errors, stop = [], threading.Event()

    def file_many():
        while not stop.is_set():
            for job in jobs:
                with runner._lock:
                    runner._file(job)

    def read_stats():
        try:
            for _ in range(3000):
                runner.stats()
        except RuntimeError as exc:
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over between almost every two bytecodes
    try:
        filer, reader = threading.Thread(target=file_many), threading.Thread(target=read_stats)
        filer.start(), reader.start()
        reader.join(60)
        stop.set()
        filer.join(10)
    finally:
        sys.setswitchinterval(old)
    assert errors == []

# --- private forks ------------------------------------------------------------------------
def test_make_private_forks_at_the_same_iteration_and_leaves_the_shared_run_alone(make_runner):
    runner = make_runner(frame_interval=0.02, lease_seconds=30)
    shared = runner.watch("a", TINY)
    assert runner.watch("b", TINY) is shared
    wait_for(lambda: iteration(runner, "b") >= 100, what="the shared run to reach iteration 100")

    before = iteration(runner, "b")
    fork = runner.make_private("b", TINY)
    after = shared.latest.iteration
    assert fork is not shared and fork.private and runner.job_of("b") is fork
    seen = set()  # what b sees while the fork replays: its paused view, never "starting" or iteration 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (fork.latest is None or fork.control.busy):
        snap = runner.latest("b")
        if not isinstance(snap, Queued):  # the instant before the scheduler admits the fork
            seen.add(snap.iteration if snap is not None else None)
        time.sleep(0.001)  # a busy loop would starve the workers of the GIL
    assert seen and None not in seen and min(seen) >= before, seen
    # The fork replays deterministically to b's iteration at the click, and holds there.
    wait_for(lambda: not fork.control.busy and fork.latest is not None and fork.latest.iteration >= before,
             what="the fork to finish its replay")
    at = fork.latest.iteration  # the fork's own snapshot, not the stand-in shown during the replay
    assert before <= at <= after and at % TINY.snapshot_every == 0
    time.sleep(0.2)
    assert iteration(runner, "b") == at == fork.latest.iteration
    assert fork.control.paused and not fork.finished
    row = list(runner.latest("a").history["iteration"]).index(at)
    np.testing.assert_allclose(fork.latest.train_loss, runner.latest("a").history["train"][row], rtol=1e-5)

    # The other viewer's run is untouched: same job, still running, only "a" watches it.
    assert runner.job_of("a") is shared and set(shared.viewers) == {"a"}
    assert not shared.control.cancelled and not shared.control.paused
    now = iteration(runner, "a")
    wait_for(lambda: iteration(runner, "a") > now, what="the shared run to go on")

    # A step on the fork moves the fork alone.
    fork.control.step(1)
    wait_for(lambda: iteration(runner, "b") == at + 1, what="a single step of the fork")
    assert runner.job_of("a") is shared and not shared.control.paused


def test_make_private_from_start_holds_at_iteration_zero(make_runner):
    runner = make_runner(lease_seconds=30)
    runner.watch("a", TINY)
    fork = runner.make_private("a", TINY, from_start=True, hold=True)
    wait_for(lambda: runner.latest("a") is not None and not isinstance(runner.latest("a"), Queued),
             what="the fork's first snapshot")
    time.sleep(0.1)
    assert iteration(runner, "a") == 0 and fork.control.paused
    assert runner.stats()["jobs"] == 1  # the shared run lost its only viewer and stopped


# --- bounded work -------------------------------------------------------------------------
def test_the_queue_shows_positions_and_serves_everyone_in_turn(make_runner):
    runner = make_runner(**one_run_at_a_time(lease_seconds=30))
    configs = [TINY.with_(epochs=300, seed=s) for s in (1, 2, 3)]
    jobs = [runner.watch(f"v{i}", c) for i, c in enumerate(configs)]
    assert len(set(jobs)) == 3

    # One trains (a flat-out run needs the whole core), the two others wait, in the order they asked.
    wait_for(lambda: isinstance(runner.latest("v0"), Snapshot), what="the first run to start")
    first, second = runner.latest("v1"), runner.latest("v2")
    assert isinstance(first, Queued) and isinstance(second, Queued)
    assert (first.ahead, second.ahead) == (0, 1)
    assert 0 < first.seconds < second.seconds  # about how long: the further back, the longer
    stats = runner.stats()
    assert stats["queued"] == 2 and stats["training"] == 1

    for job in jobs:
        assert job.wait(20)
    assert [j.latest.status for j in jobs] == ["done"] * 3
    assert runner.stats()["queued"] == 0 and runner.stats()["training"] == 0


def test_a_queued_job_whose_viewer_leaves_gives_its_place_up(make_runner):
    runner = make_runner(**one_run_at_a_time(lease_seconds=30))
    configs = [TINY.with_(epochs=300, seed=s) for s in (1, 2, 3)]
    jobs = [runner.watch(f"v{i}", c) for i, c in enumerate(configs)]
    wait_for(lambda: isinstance(runner.latest("v0"), Snapshot), what="the first run to start")
    runner.leave("v1")
    assert runner.latest("v2").ahead == 0
    assert jobs[1].wait(5) and jobs[1].latest is None  # it never trained
    assert jobs[2].wait(20)
    assert jobs[2].latest.status == "done"


def test_paced_runs_share_the_workers_many_at_once(make_runner):
    # 30 runs paced for watching on one worker: each needs a small share of it, so all train at
    # once (no queue), with no thread per run.
    runner = make_runner(workers=1, frame_interval=0.2, lease_seconds=30)
    threads = len(dropviz_threads())
    for i in range(30):
        runner.watch(f"v{i}", TINY.with_(seed=i))
    wait_for(lambda: all(iteration(runner, f"v{i}") >= 1 for i in range(30)), timeout=20,
             what="every run's first trained frame")
    assert runner.stats()["queued"] == 0 and runner.stats()["training"] == 30
    assert len(dropviz_threads()) == threads


def test_a_paused_run_leaves_the_worker_to_others_and_steps_when_asked(make_runner):
    runner = make_runner(**one_run_at_a_time(lease_seconds=30))
    paused = runner.make_private("teacher", TINY.with_(epochs=5000, seed=7), from_start=True, hold=True)
    wait_for(lambda: isinstance(runner.latest("teacher"), Snapshot), what="the paused run's first frame")
    wait_for(lambda: paused.task.state == "parked", what="the paused run to leave the worker")
    other = runner.watch("student", TINY.with_(epochs=200, seed=8))
    assert other.wait(20)  # the only worker trained the student's run meanwhile
    assert other.latest.status == "done"
    paused.control.step(3)
    wait_for(lambda: iteration(runner, "teacher") == 3, what="the paused run to step")
    wait_for(lambda: paused.task.state == "parked", what="the run to park again after its steps")


# --- leases and leaving -------------------------------------------------------------------
def test_a_viewer_that_stops_polling_is_dropped_and_its_job_stops(make_runner):
    runner = make_runner(lease_seconds=0.4, frame_interval=0.02)
    job = runner.watch("a", TINY.with_(epochs=20_000))
    for _ in range(5):  # polling keeps the lease alive well past lease_seconds
        time.sleep(0.12)
        assert runner.latest("a") is not None or not job.finished
    assert runner.job_of("a") is job and not job.control.cancelled
    wait_for(lambda: runner.job_of("a") is None, timeout=3, what="the reaper to drop the viewer")
    assert job.control.cancelled
    assert job.wait(3)
    assert runner.stats() == {"jobs": 0, "training": 0, "queued": 0, "viewers": 0, "cached": 0, "cached_bytes": 0}


def test_one_viewer_polling_keeps_a_shared_job_the_other_expires(make_runner):
    runner = make_runner(lease_seconds=0.4, frame_interval=0.02)
    job = runner.watch("a", TINY.with_(epochs=20_000))
    runner.watch("b", TINY.with_(epochs=20_000))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # only "a" polls
        runner.latest("a")
        time.sleep(0.05)
    assert runner.job_of("b") is None and runner.job_of("a") is job
    assert set(job.viewers) == {"a"} and not job.control.cancelled


def test_leave_of_the_last_viewer_stops_the_job(make_runner):
    runner = make_runner(lease_seconds=30)
    job = runner.watch("a", TINY.with_(epochs=20_000))
    runner.watch("b", TINY.with_(epochs=20_000))
    runner.leave("a")
    assert not job.control.cancelled and not job.finished
    runner.leave("b")
    assert job.control.cancelled
    assert job.wait(3)
    assert job.latest is None or job.latest.status in ("cancelled", "running")
    runner.leave("b")  # leaving twice is harmless


def test_changing_settings_leaves_the_old_run(make_runner):
    runner = make_runner(lease_seconds=30)
    old = runner.watch("a", TINY.with_(epochs=20_000))
    new = runner.watch("a", TINY.with_(epochs=20_000, p=0.3))
    assert new is not old and old.control.cancelled
    assert old.wait(3) and runner.stats()["jobs"] == 1


def test_a_paused_private_job_stops_when_its_viewer_goes(make_runner):
    runner = make_runner(lease_seconds=0.4)
    runner.watch("a", TINY)
    fork = runner.make_private("a", TINY, from_start=True, hold=True)
    wait_for(lambda: fork.latest is not None, what="the fork's first snapshot")
    wait_for(lambda: fork.finished, timeout=3, what="the paused fork to stop after its lease")
    assert runner.job_of("a") is None


# --- failures -----------------------------------------------------------------------------
def test_an_error_in_training_is_one_sentence_for_the_viewer_a_traceback_in_the_log_and_frees_the_worker(
        make_runner, monkeypatch, caplog):
    real_run = workers_module.run

    def run(config, control):
        if config.seed == 13:
            raise MemoryError("out of memory (simulated)")
        return real_run(config, control)

    monkeypatch.setattr(workers_module, "run", run)
    runner = make_runner(**one_run_at_a_time(lease_seconds=30))
    with caplog.at_level("ERROR", logger="dropviz"):
        bad = runner.watch("a", TINY.with_(seed=13))
        good = runner.watch("b", TINY.with_(epochs=100))
        assert bad.wait(5)
    assert bad.error == runner_module.FAILED_MESSAGE and "simulated" not in bad.error
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "simulated" in str(logged[0].exc_info[1])  # the traceback is in the server log
    assert runner.latest("a") is None  # nothing to draw; the page shows job.error
    assert good.wait(10)  # only one worker: it trained, so the failed run gave it back
    assert good.latest.status == "done" and good.error == ""


def test_an_error_half_way_keeps_the_last_snapshot(make_runner, monkeypatch):
    real_run = workers_module.run

    def run(config, control):
        for snap in real_run(config, control):
            yield snap
            if snap is not None and snap.iteration >= 40:
                raise RuntimeError("diverged badly")

    monkeypatch.setattr(workers_module, "run", run)
    runner = make_runner(frame_interval=0, lease_seconds=30)
    job = runner.watch("a", TINY)
    assert job.wait(5)
    assert job.error == runner_module.FAILED_MESSAGE
    assert runner.latest("a").iteration == 40
    runner.leave("a")
    assert runner.stats()["cached"] == 0  # a failed run is never served from the cache


def test_a_full_queue_refuses_with_a_message_and_the_next_viewer_tries_again(make_runner):
    runner = make_runner(scheduler=Scheduler(workers=1, cpu_capacity=1.0, max_waiting=1), frame_interval=0,
                         lease_seconds=30)
    runner.watch("v0", TINY.with_(epochs=20_000, seed=0))
    runner.watch("v1", TINY.with_(epochs=20_000, seed=1))  # waits: the only place in the queue
    refused = runner.watch("v2", TINY.with_(epochs=20_000, seed=2))
    assert refused.finished and "server is full" in refused.error
    runner.leave("v1")  # a place frees up: the same settings are tried afresh, not served the refusal
    assert runner.watch("v3", TINY.with_(epochs=20_000, seed=2)) is not refused


# --- no leaks ------------------------------------------------------------------------------
def test_threads_return_to_baseline_after_shutdown():
    baseline = {t.ident for t in threading.enumerate()}
    runner = Runner(scheduler=Scheduler(workers=2), frame_interval=0.01, lease_seconds=0.5)
    for i in range(3):
        runner.watch(f"v{i}", TINY.with_(seed=i))
    runner.make_private("v0", TINY.with_(seed=0), hold=True)
    wait_for(lambda: runner.scheduler.stats()["live"] >= 3, what="the runs to start")
    runner.shutdown()
    left = [t for t in threading.enumerate() if t.ident not in baseline]
    assert left == [], left
    assert runner.stats()["jobs"] == 0


def test_many_viewers_coming_and_going_leave_nothing_behind(make_runner):
    runner = make_runner(frame_interval=0.01, lease_seconds=30, cache_bytes=1 << 20)
    threads = threading.active_count()
    for i in range(60):
        config = TINY.with_(epochs=60, seed=i % 6)
        runner.watch(f"v{i}", config)
        if i % 3 == 0:
            runner.make_private(f"v{i}", config)
        if i % 2:
            runner.leave(f"v{i - 1}")
    for i in range(60):
        runner.leave(f"v{i}")
    wait_for(lambda: runner.scheduler.stats()["live"] == 0 and runner.scheduler.stats()["waiting"] == 0,
             timeout=10, what="every run to end")
    assert runner.stats()["jobs"] == 0 and runner.stats()["viewers"] == 0
    assert runner.stats()["cached_bytes"] <= 1 << 20
    assert threading.active_count() == threads  # no thread per run came or stayed


def test_a_session_has_one_live_run_at_a_time(make_runner):
    # The per-session limit: whatever a session watches next (new settings, a lesson's experiment,
    # a private copy), its previous run stops unless someone else watches it.
    from dropviz.lessons.sweep import SweepSpec
    runner = make_runner(lease_seconds=30)
    lab = runner.watch("a", TINY.with_(epochs=20_000))
    sweep = runner.watch("a", SweepSpec(TINY.with_(epochs=20_000), (0.0, 0.5), (1,)))
    assert lab.wait(5) and lab.control.cancelled
    fork = runner.make_private("a", TINY.with_(epochs=20_000), from_start=True)
    assert sweep.wait(5) and not fork.finished
    assert runner.stats()["jobs"] == 1 and runner.scheduler.stats()["live"] + runner.scheduler.stats()["waiting"] == 1


# --- what the viewers show ---------------------------------------------------------------
def test_a_shared_run_computes_what_any_of_its_viewers_shows(make_runner):
    runner = make_runner(frame_interval=0.02, lease_seconds=30)
    config = TINY.with_(epochs=20_000)
    job = runner.watch("a", config, charts=FIT_AND_LOSS)
    assert job.control.shows == frozenset()
    wait_for(lambda: iteration(runner, "a") >= 40, what="frames of the run with the extras hidden")
    assert runner.latest("a").weight_hist == [] and runner.latest("a").net is None

    assert runner.watch("b", config, charts=["fit", "loss", "hist"]) is job  # the union of the two
    assert job.control.shows == {"hist"}
    at = iteration(runner, "a")
    wait_for(lambda: iteration(runner, "a") > at, what="the next frame")
    assert runner.latest("a").weight_hist and runner.latest("a").net is None

    runner.watch("a", config, charts=EVERY_CHART)
    assert job.control.shows == DETAILS
    runner.watch("a", config)  # said nothing new: as before
    assert job.control.shows == DETAILS
    runner.leave("a")  # what "b" still shows
    assert job.control.shows == {"hist"}
    fork = runner.make_private("b", config)
    assert fork.control.shows == {"hist"}  # a fork computes what its viewer shows
    runner.watch("c", config)  # a newcomer that says nothing gets everything
    assert runner.job_of("c").control.shows == DETAILS


def test_a_lessons_experiment_computes_everything_whatever_the_lab_hid(make_runner):
    # The L2 lesson draws histograms from the runs it steps with its job's Control.
    from dropviz.lessons.sweep import SweepSpec
    runner = make_runner(lease_seconds=30)
    runner.watch("a", TINY.with_(epochs=20_000), charts=FIT_AND_LOSS)
    lesson = runner.watch("a", SweepSpec(TINY.with_(epochs=20_000), (0.0, 0.5), (1,)))
    assert lesson.control.shows == DETAILS and lesson.control.ops == []
