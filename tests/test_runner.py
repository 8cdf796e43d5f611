"""The runner: shared runs, the results cache, private forks, the queue, the budget, leases, failures.

Tiny configs (width 8) and short frame intervals keep every test well under a second or two.
Each test builds its own Runner and shuts it down, so no thread outlives it.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import dropviz.runner as runner_module
from dropviz.config import LabConfig, preset
from dropviz.runner import BUDGET_GFLOP, Queued, Runner, budget_problem, run_cost_gflop
from dropviz.train import Snapshot

TINY = LabConfig(width=8, depth=2, epochs=2000, snapshot_every=20, device="cpu")


def wait_for(condition, timeout: float = 10.0, what: str = "condition"):
    """Poll `condition()` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dropviz-job")]


def iteration(runner: Runner, viewer: str) -> int:
    snap = runner.latest(viewer)
    return snap.iteration if isinstance(snap, Snapshot) else -1


@pytest.fixture
def make_runner():
    """Factory for runners that are shut down (threads joined) after the test."""
    made: list[Runner] = []

    def make(**kwargs) -> Runner:
        kwargs.setdefault("frame_interval", 0.01)
        made.append(Runner(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.shutdown()
    for r in made:  # a test that failed half-way must not leave threads to the next one
        for job in {*r._by_viewer.values(), *r._shared.values()}:
            assert job.finished or not job.thread.is_alive()


# --- sharing ------------------------------------------------------------------------------
def test_two_viewers_with_identical_settings_share_one_job(make_runner):
    runner = make_runner(frame_interval=0.02, lease_seconds=30)
    before = len(job_threads())
    a = runner.watch("a", TINY)
    wait_for(lambda: iteration(runner, "a") >= 200, what="the shared run to reach iteration 200")

    b = runner.watch("b", LabConfig(**TINY.to_dict()))  # equal settings, a different object
    assert b is a
    assert len(job_threads()) == before + 1, "the second viewer must not start a thread"
    assert set(a.viewers) == {"a", "b"}
    assert runner.stats()["jobs"] == 1 and runner.stats()["viewers"] == 2

    # The newcomer joins at the current state, and sees the history so far.
    snap = runner.latest("b")
    assert isinstance(snap, Snapshot) and snap.iteration >= 200
    its = snap.history["iteration"]
    assert its[0] == 0 and its[-1] == snap.iteration and len(its) >= 200 // TINY.snapshot_every


def test_a_finished_run_is_cached_and_served_at_once_without_a_thread(make_runner):
    runner = make_runner(frame_interval=0)
    config = TINY.with_(epochs=200)
    first = runner.watch("a", config)
    first.thread.join(10)
    assert first.latest.status == "done" and first.latest.iteration == 200
    runner.leave("a")  # the last viewer left a finished run: it is filed, not thrown away
    assert runner.stats()["cached"] == 1 and runner.stats()["jobs"] == 0

    threads = threading.active_count()
    again = runner.watch("b", config)
    assert again is not first and again.thread is None and again.finished
    assert threading.active_count() == threads
    snap = runner.latest("b")
    assert snap.status == "done" and snap.iteration == 200
    np.testing.assert_array_equal(snap.pred, first.latest.pred)


def test_the_reaper_files_a_finished_shared_run_while_it_is_still_watched(make_runner):
    runner = make_runner(frame_interval=0, lease_seconds=30)
    config = TINY.with_(epochs=200)
    runner.watch("a", config).thread.join(10)
    runner.reap()
    assert runner.stats()["cached"] == 1
    assert runner.watch("b", config) is runner.job_of("a")  # still shared while "a" watches


def test_the_cache_is_bounded(make_runner):
    runner = make_runner(frame_interval=0, cache_size=2)
    for seed in range(4):
        config = TINY.with_(epochs=20, seed=seed)
        runner.watch("a", config).thread.join(10)
        runner.leave("a")
    assert runner.stats()["cached"] == 2
    assert list(runner._done) == [TINY.with_(epochs=20, seed=s) for s in (2, 3)]  # least recent dropped


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
        if not isinstance(snap, Queued):  # the instant before the fork's thread takes its free slot
            seen.add(snap.iteration if snap is not None else None)
        time.sleep(0.001)  # a busy loop would starve the fork's thread of the GIL
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
    runner = make_runner(max_threads=1, frame_interval=0.01, lease_seconds=30)
    configs = [TINY.with_(epochs=300, seed=s) for s in (1, 2, 3)]
    jobs = [runner.watch(f"v{i}", c) for i, c in enumerate(configs)]
    assert len(set(jobs)) == 3

    # One trains, the two others wait, in the order they asked.
    wait_for(lambda: isinstance(runner.latest("v0"), Snapshot), what="the first run to start")
    assert runner.latest("v1") == Queued(ahead=0)
    assert runner.latest("v2") == Queued(ahead=1)
    stats = runner.stats()
    assert stats["queued"] == 2 and stats["training"] == 1
    assert sum(t.is_alive() for t in job_threads()) >= 3

    for job in jobs:
        job.thread.join(20)
    assert [j.latest.status for j in jobs] == ["done"] * 3
    assert runner.stats()["queued"] == 0 and runner.stats()["training"] == 0


def test_a_queued_job_whose_viewer_leaves_gives_its_place_up(make_runner):
    runner = make_runner(max_threads=1, frame_interval=0.01, lease_seconds=30)
    configs = [TINY.with_(epochs=300, seed=s) for s in (1, 2, 3)]
    jobs = [runner.watch(f"v{i}", c) for i, c in enumerate(configs)]
    wait_for(lambda: isinstance(runner.latest("v0"), Snapshot), what="the first run to start")
    runner.leave("v1")
    assert runner.latest("v2") == Queued(ahead=0)
    jobs[1].thread.join(5)
    assert not jobs[1].thread.is_alive() and jobs[1].latest is None
    jobs[2].thread.join(20)
    assert jobs[2].latest.status == "done"


def test_two_slots_train_two_runs_at_once(make_runner):
    runner = make_runner(max_threads=2, frame_interval=0.02, lease_seconds=30)
    for i in range(3):
        runner.watch(f"v{i}", TINY.with_(seed=i))
    wait_for(lambda: runner.stats()["training"] == 2, what="two runs training")
    assert runner.latest("v2") == Queued(ahead=0)


def test_budget_names_what_to_lower_and_lets_the_source_demo_through():
    assert budget_problem(preset("source")) == ""
    assert run_cost_gflop(preset("source")) < 0.05 * BUDGET_GFLOP
    huge = LabConfig(width=1024, depth=6, epochs=20_000, n_points=500)
    problem = budget_problem(huge)
    assert problem
    for knob in ("width", "depth", "points", "epochs"):
        assert knob in problem
    fits = int(problem.split("at most ")[1].split()[0].replace(",", ""))
    assert fits >= 1 and budget_problem(huge.with_(epochs=fits)) == ""


def test_budget_is_monotonic_in_every_size_knob():
    base = preset("source")
    for field, bigger in (("width", 400), ("depth", 5), ("epochs", 4000), ("n_points", 20)):
        assert run_cost_gflop(base.with_(**{field: bigger})) > run_cost_gflop(base)


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
    job.thread.join(3)
    assert not job.thread.is_alive()
    assert runner.stats() == {"jobs": 0, "training": 0, "queued": 0, "viewers": 0, "cached": 0}


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
    assert not job.control.cancelled and job.thread.is_alive()
    runner.leave("b")
    assert job.control.cancelled
    job.thread.join(3)
    assert not job.thread.is_alive()
    assert job.latest is None or job.latest.status in ("cancelled", "running")
    runner.leave("b")  # leaving twice is harmless


def test_changing_settings_leaves_the_old_run(make_runner):
    runner = make_runner(lease_seconds=30)
    old = runner.watch("a", TINY.with_(epochs=20_000))
    new = runner.watch("a", TINY.with_(epochs=20_000, p=0.3))
    assert new is not old and old.control.cancelled
    old.thread.join(3)
    assert not old.thread.is_alive() and runner.stats()["jobs"] == 1


def test_a_paused_private_job_stops_when_its_viewer_goes(make_runner):
    runner = make_runner(lease_seconds=0.4)
    runner.watch("a", TINY)
    fork = runner.make_private("a", TINY, from_start=True, hold=True)
    wait_for(lambda: fork.latest is not None, what="the fork's first snapshot")
    wait_for(lambda: fork.finished, timeout=3, what="the paused fork to stop after its lease")
    assert runner.job_of("a") is None


# --- failures -----------------------------------------------------------------------------
def test_an_error_in_training_is_a_message_on_that_run_and_frees_the_slot(make_runner, monkeypatch):
    real_run = runner_module.run

    def run(config, control):
        if config.seed == 13:
            raise MemoryError("out of memory (simulated)")
        return real_run(config, control)

    monkeypatch.setattr(runner_module, "run", run)
    runner = make_runner(max_threads=1, frame_interval=0, lease_seconds=30)
    bad = runner.watch("a", TINY.with_(seed=13))
    good = runner.watch("b", TINY.with_(epochs=100))
    bad.thread.join(5)
    assert "MemoryError" in bad.error and "simulated" in bad.error
    assert runner.latest("a") is None  # nothing to draw; the page shows job.error
    good.thread.join(10)  # only one slot: it ran, so the failed run gave its slot back
    assert good.latest.status == "done" and good.error == ""
    assert runner._free_slots == 1


def test_an_error_half_way_keeps_the_last_snapshot(make_runner, monkeypatch):
    real_run = runner_module.run

    def run(config, control):
        for snap in real_run(config, control):
            yield snap
            if snap.iteration >= 40:
                raise RuntimeError("diverged badly")

    monkeypatch.setattr(runner_module, "run", run)
    runner = make_runner(frame_interval=0, lease_seconds=30)
    job = runner.watch("a", TINY)
    job.thread.join(5)
    assert "RuntimeError: diverged badly" in job.error
    assert runner.latest("a").iteration == 40
    runner.leave("a")
    assert runner.stats()["cached"] == 0  # a failed run is never served from the cache


# --- no leaks ------------------------------------------------------------------------------
def test_threads_return_to_baseline_after_shutdown():
    baseline = {t.ident for t in threading.enumerate()}
    runner = Runner(max_threads=1, frame_interval=0.01, lease_seconds=0.5)
    for i in range(3):
        runner.watch(f"v{i}", TINY.with_(seed=i))
    runner.make_private("v0", TINY.with_(seed=0), hold=True)
    wait_for(lambda: len(job_threads()) >= 3, what="the job threads")
    runner.shutdown()
    left = [t for t in threading.enumerate() if t.ident not in baseline]
    assert left == [], left
    assert runner.stats()["jobs"] == 0


def test_many_viewers_coming_and_going_leave_nothing_behind(make_runner):
    runner = make_runner(max_threads=2, frame_interval=0.01, lease_seconds=30, cache_size=4)
    baseline = threading.active_count()
    for i in range(60):
        config = TINY.with_(epochs=60, seed=i % 6)
        runner.watch(f"v{i}", config)
        if i % 3 == 0:
            runner.make_private(f"v{i}", config)
        if i % 2:
            runner.leave(f"v{i - 1}")
    for i in range(60):
        runner.leave(f"v{i}")
    wait_for(lambda: threading.active_count() <= baseline, timeout=10, what="all job threads to end")
    assert runner.stats()["jobs"] == 0 and runner.stats()["viewers"] == 0
    assert runner.stats()["cached"] <= 4 and runner._queue == []
    assert runner._free_slots == 2


def test_a_paused_run_lends_its_training_slot_and_gets_it_back(make_runner):
    runner = make_runner(max_threads=1, frame_interval=0.01, lease_seconds=30)
    paused = runner.make_private("teacher", TINY.with_(epochs=5000, seed=7), from_start=True, hold=True)
    wait_for(lambda: isinstance(runner.latest("teacher"), Snapshot), what="the paused run's first frame")
    other = runner.watch("student", TINY.with_(epochs=200, seed=8))
    # The only slot is free while the teacher's run is paused, so the student's run trains to the end.
    other.thread.join(20)
    assert other.latest is not None and other.latest.status == "done"
    paused.control.step(3)
    wait_for(lambda: iteration(runner, "teacher") == 3, what="the paused run to step once the slot is back")
    wait_for(lambda: paused._holding is False, what="the slot to be lent again once the step is done")


def test_frame_versions_only_grow_for_a_viewer_across_frames_settings_and_resets(make_runner):
    runner = make_runner()
    runner.watch("a", TINY)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (seen and seen[-1].final):
        seen.append(runner.frame("a"))
        time.sleep(0.002)
    assert seen[-1].final and seen[-1].shown.status == "done"
    versions = [f.version for f in seen]
    assert versions == sorted(versions) and len(set(versions)) > 3  # it grew with the snapshots
    for a, b in zip(seen, seen[1:]):  # one version, one snapshot
        if a.version == b.version:
            assert a.shown is b.shown
    runner.watch("a", TINY.with_(seed=2))  # new settings: a new job, above the old one
    other = runner.frame("a").version
    assert other > versions[-1]
    runner.make_private("a", TINY.with_(seed=2), from_start=True)  # a reset: above again
    assert runner.frame("a").version > other
    assert runner.frame("nobody") is None


def test_a_fork_shows_its_stand_in_under_its_own_version_until_it_catches_up(make_runner):
    runner = make_runner()
    runner.watch("a", TINY)
    runner.watch("b", TINY)
    wait_for(lambda: iteration(runner, "a") >= 200, what="the shared run to get going")
    fork = runner.make_private("b", TINY)
    assert fork.replay_to >= 200
    during = runner.frame("b")  # the stand-in, or already the fork's own snapshot: the fork's version
    assert during.version // runner_module.FRAMES_PER_JOB == fork.serial and not during.final
    wait_for(lambda: not fork.control.busy and fork.latest is not None and fork.latest.iteration >= fork.replay_to,
             what="the replay")
    after = runner.frame("b")
    assert after.shown is fork.latest and after.version > fork.serial * runner_module.FRAMES_PER_JOB
    assert after.version >= during.version
