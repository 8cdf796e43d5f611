"""Worker processes: runs trained in other processes, paused, stepped and failed as in this one.

Two processes of one training thread each: what the server starts on a two-core machine. Tiny
configs keep it quick; the processes take a few seconds to start (they import torch).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from dropviz.config import LabConfig
from dropviz.runner import Runner
from dropviz.train import Snapshot
from dropviz.workers import ProcessScheduler, RemoteError
from tests.waiting import wait_for as _wait_for

TINY = LabConfig(width=8, depth=2, epochs=300, snapshot_every=20, device="cpu")


@dataclass(frozen=True)
class Broken:
    """A lesson-like spec whose run fails as it starts, in the worker process."""

    def snapshots(self, control):
        yield from ()
        raise ValueError("broken on purpose")



def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    return _wait_for(condition, timeout, what, every=0.02)  # runs in other processes: a slower poll


def iteration(runner: Runner, viewer: str) -> int:
    snap = runner.latest(viewer)
    return snap.iteration if isinstance(snap, Snapshot) else -1


@pytest.fixture(scope="module")
def runner():
    r = Runner(scheduler=ProcessScheduler(2), frame_interval=0.02, lease_seconds=60)
    yield r
    r.shutdown()
    assert not any(w.process.is_alive() for w in r.scheduler._workers)  # no worker process outlives the runner


def test_runs_train_in_the_worker_processes_not_in_this_one(runner):
    threads = threading.active_count()
    jobs = [runner.watch(f"a{i}", TINY.with_(seed=i)) for i in range(4)]
    for job in jobs:
        assert job.wait(60) and job.error == ""
        assert job.latest.status == "done" and job.latest.iteration == TINY.epochs
    assert threading.active_count() == threads  # no training thread here
    assert runner.scheduler.stats()["workers"] == 2


def test_the_same_numbers_as_training_here(runner):
    from dropviz.train import run
    here = list(run(TINY.with_(seed=7)))[-1]
    there = runner.watch("b", TINY.with_(seed=7))
    assert there.wait(60)
    assert (there.latest.test_loss == here.test_loss).all() and (there.latest.pred == here.pred).all()


def test_pause_step_and_resume_reach_the_worker(runner):
    fork = runner.make_private("c", TINY.with_(epochs=20_000), from_start=True, hold=True)
    wait_for(lambda: iteration(runner, "c") == 0, what="the held run's first frame")
    time.sleep(0.3)
    assert iteration(runner, "c") == 0 and fork.control.paused
    fork.control.step(3)
    wait_for(lambda: iteration(runner, "c") == 3, what="three steps")
    wait_for(lambda: not fork.control.busy, what="the steps to be used up, as the worker says")
    fork.control.resume()
    wait_for(lambda: iteration(runner, "c") > 40, what="the resumed run")
    runner.leave("c")
    assert fork.wait(10)


def test_a_failure_in_a_worker_is_logged_with_its_traceback_and_ends_that_run_alone(runner, caplog):
    with caplog.at_level("ERROR", logger="dropviz"):
        bad = runner.watch("d", Broken())
        assert bad.wait(30)
    assert bad.error and "broken on purpose" not in bad.error  # one sentence for the students …
    logged = [r for r in caplog.records if r.exc_info]
    assert isinstance(logged[0].exc_info[1], RemoteError)
    assert "broken on purpose" in str(logged[0].exc_info[1])  # … the traceback for us
    good = runner.watch("e", TINY.with_(seed=21))
    assert good.wait(60) and good.latest.status == "done"


def test_a_killed_worker_process_ends_its_runs_with_a_message_and_a_new_one_takes_its_place():
    scheduler = ProcessScheduler(1)
    runner = Runner(scheduler=scheduler, frame_interval=0.2, lease_seconds=60)
    try:
        job = runner.watch("f", TINY.with_(epochs=20_000))
        wait_for(lambda: iteration(runner, "f") >= 1, what="the run to start")
        dead = scheduler._workers[0]
        dead.process.kill()
        assert job.wait(10)
        assert job.error  # the page says the run stopped, and the next watch starts afresh
        again = runner.watch("f", TINY.with_(epochs=30))  # a new process takes the dead one's place
        assert again is not job and again.wait(30) and not again.error
        assert iteration(runner, "f") == 30
        assert scheduler._workers[0] is not dead and scheduler._workers[0].process.is_alive()
    finally:
        runner.shutdown()
    assert not dead.process.is_alive() and not scheduler._workers[0].process.is_alive()


def test_what_the_viewers_show_reaches_the_worker(runner):
    fork = runner.make_private("d", TINY.with_(epochs=20_000), from_start=True, hold=True)
    fork.control.show(frozenset())  # ?hide=charts_extra: no histograms, no network view
    fork.control.step(3)
    wait_for(lambda: iteration(runner, "d") == 3, what="three steps")
    assert runner.latest("d").weight_hist == [] and runner.latest("d").net is None
    fork.control.show({"hist", "net"})
    fork.control.step(1)
    wait_for(lambda: iteration(runner, "d") == 4, what="one more step")
    assert runner.latest("d").weight_hist and runner.latest("d").net is not None
    runner.leave("d")
    assert fork.wait(10)
