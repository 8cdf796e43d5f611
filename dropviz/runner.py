"""Background training jobs shared by the viewers of a page, with limits that keep a class going.

One `Runner` per server process. A viewer (one browser session) `watch`es a config: viewers of
the same config share one job, and a finished run's last snapshot stays in a small cache so the
next viewer gets it at once. A viewer who pauses, steps or resets gets a private job
(`make_private`) that replays the run deterministically to the same iteration, so no student's
click changes another student's view. Every poll renews the viewer's lease; a reaper thread
cancels jobs nobody has polled for `lease_seconds`, so closed tabs leave no thread behind.
At most `max_threads` jobs train at once; the others wait in a queue.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from .config import LabConfig
from .control import Control
from .train import Snapshot, run


def snapshots(key, control: Control):
    """What a job trains: a LabConfig runs the lab's pair; any other key (a lesson's frozen,
    hashable spec, e.g. a sweep) brings its own `snapshots(control)` generator."""
    return run(key, control) if isinstance(key, LabConfig) else key.snapshots(control)

FRAME_INTERVAL = 0.2  # seconds between snapshots of a live run: 5 frames per second
BUDGET_GFLOP = 2_000.0  # per run; the source demo needs about 19


def run_cost_gflop(config: LabConfig) -> float:
    """Training FLOPs of a run, both models: about 6 per weight per point per iteration."""
    weights = config.width * (config.width * (config.depth - 1) + 2) + config.width * config.depth
    return 6 * config.n_points * weights * config.epochs * len(config.ps) / 1e9


def budget_problem(config: LabConfig, budget: float = BUDGET_GFLOP) -> str:
    """'' when the run fits the budget, else a message saying what to lower."""
    cost = run_cost_gflop(config)
    if cost <= budget:
        return ""
    fits = int(config.epochs * budget / cost)
    return (f"This run would need about {cost:,.0f} GFLOP of training, more than the {budget:,.0f} this "
            f"server allows per run. Lower the hidden width, the depth, the number of points or the "
            f"epochs (with these settings at most {fits:,} epochs fit).")


@dataclass
class Queued:
    """What `latest` gives while a job waits for a free training thread."""

    ahead: int


@dataclass
class Frame:
    """What a viewer is shown now (`latest`), numbered so that a browser can ask for anything newer.

    `version` grows with every new snapshot of a job, and every job starts above all older ones,
    so a viewer's versions only grow, across settings changes and resets too. `final`: the job
    has ended, no newer frame will follow (until the viewer switches jobs).
    """

    shown: "Snapshot | Queued | None"
    version: int
    final: bool


_job_serials = itertools.count(1)
FRAMES_PER_JOB = 1_000_000  # more snapshots than any run makes (20,000 iterations at most)


class Job:
    """One training run in its own thread (or a finished one from the cache, with no thread)."""

    def __init__(self, config: LabConfig, private: bool = False, result: Snapshot | None = None):
        self.config, self.private = config, private
        self.control = Control()
        self.serial = next(_job_serials)
        # (newest snapshot, how many so far), replaced as one tuple so a reader never sees one
        # without the other.
        self._latest: tuple[Snapshot | None, int] = (result, int(result is not None))
        self.error = ""  # set when training raised: the message for this run's viewers
        self.viewers: dict[str, float] = {}  # session id → time of its last poll
        self.thread: threading.Thread | None = None
        # A fork replaying to its parent's iteration shows the parent's snapshot until it gets there,
        # so the viewer sees the view they paused, not a fast-forward from iteration 0.
        self.stand_in: Snapshot | None = None
        self.replay_to = 0
        self._holding = False  # whether this job's thread holds a training slot right now

    @property
    def latest(self) -> Snapshot | None:
        return self._latest[0]

    @property
    def finished(self) -> bool:
        return self.thread is None or not self.thread.is_alive()

    def start(self, runner: "Runner", replay_to: int = 0) -> "Job":
        self.control.frame_interval = runner.frame_interval
        if replay_to:  # fast-forward to where the shared run was, then hold still
            self.control.step(replay_to)
        with runner._queue_lock:  # queued here, in request order: the position shown is the real turn
            runner._queue.append(self)
            runner._threads.add(self)
        self.thread = threading.Thread(target=self._work, args=(runner,), daemon=True,
                                       name="dropviz-job")
        self.thread.start()
        return self

    def _work(self, runner: "Runner") -> None:
        try:
            self._train(runner)
        finally:
            with runner._queue_lock:
                runner._threads.discard(self)

    def _train(self, runner: "Runner") -> None:
        if not runner._take_slot(self):
            return  # cancelled while it waited
        self._holding = True
        # A paused run gives its slot back while it waits: paused students must not block the queue.
        self.control.on_idle = lambda: self._release(runner)
        self.control.on_busy = lambda: self._retake(runner)
        try:
            torch.set_num_threads(1)  # per thread, not inherited: one core per job
            for snap in snapshots(self.config, self.control):
                self._latest = (snap, self._latest[1] + 1)
        except Exception as exc:  # a failure ends this run alone, with a message, never the server
            self.error = f"Training stopped: {type(exc).__name__}: {exc}"
        finally:
            if self._holding:
                runner._give_slot()

    def _release(self, runner: "Runner") -> None:
        self._holding = False
        runner._give_slot()

    def _retake(self, runner: "Runner") -> bool:
        with runner._queue_lock:
            runner._queue.append(self)  # back in line, behind whoever waited meanwhile
        self._holding = runner._take_slot(self)
        return self._holding


class Runner:
    """All jobs of the process: sharing, queueing, leases and the results cache."""

    def __init__(self, max_threads: int | None = None, lease_seconds: float = 10.0,
                 frame_interval: float = FRAME_INTERVAL, cache_size: int = 32):
        self.max_threads = max_threads or os.cpu_count() or 1
        self.lease_seconds, self.frame_interval, self.cache_size = lease_seconds, frame_interval, cache_size
        self._free_slots = self.max_threads
        self._queue: list[Job] = []  # jobs waiting for a slot, oldest first
        self._queue_lock = threading.Lock()
        self._slot_freed = threading.Condition(self._queue_lock)
        self._threads: set[Job] = set()  # jobs whose thread has not ended, viewed or not: shutdown joins them
        self._lock = threading.RLock()
        self._shared: dict[LabConfig, Job] = {}  # live or finished shared jobs that have viewers
        self._by_viewer: dict[str, Job] = {}
        self._done: OrderedDict[LabConfig, Snapshot] = OrderedDict()  # finished shared runs, LRU
        self._stop = threading.Event()
        self._reaper_thread = threading.Thread(target=self._reaper, daemon=True, name="dropviz-reaper")
        self._reaper_thread.start()
        atexit.register(self.shutdown)  # a thread still inside torch at exit would abort the process

    # --- what a viewer does ---------------------------------------------------------------
    def watch(self, viewer: str, config: LabConfig) -> Job:
        """Follow the run of `config`: the viewer's current one, a shared one, the cache, or a new one."""
        with self._lock:
            job = self._by_viewer.get(viewer)
            if job is not None and job.config == config:
                job.viewers[viewer] = time.monotonic()
                return job
            self.leave(viewer)
            job = self._shared.get(config)
            if job is None:
                cached = self._done.get(config)
                if cached is not None:
                    self._done.move_to_end(config)
                    job = Job(config, result=cached)
                else:
                    job = Job(config).start(self)
                self._shared[config] = job
            return self._join(viewer, job)

    def make_private(self, viewer: str, config: LabConfig, from_start: bool = False, hold: bool = False) -> Job:
        """The viewer's own job, forked from the run it watched at the same iteration unless `from_start`.

        A fork replays the run to that iteration and holds there; `hold` also holds a fresh start.
        """
        with self._lock:
            job = self._by_viewer.get(viewer)
            if job is not None and job.private and job.config == config and not from_start:
                return job
            at = 0
            if not from_start and job is not None and job.config == config and job.latest is not None:
                at = job.latest.iteration
            self.leave(viewer)
            fork = Job(config, private=True)
            if hold or at:
                fork.control.pause()
            if at:
                fork.stand_in, fork.replay_to = job.latest, at
            return self._join(viewer, fork.start(self, replay_to=at))

    def latest(self, viewer: str) -> Snapshot | Queued | None:
        """The newest snapshot for the viewer (None before the first); renews its lease."""
        frame = self.frame(viewer)
        return frame.shown if frame is not None else None

    def frame(self, viewer: str) -> Frame | None:
        """`latest` with its version (see Frame); None when the viewer watches nothing. Renews the lease."""
        with self._lock:
            job = self._by_viewer.get(viewer)
            if job is None:
                return None
            job.viewers[viewer] = time.monotonic()
        finished = job.finished  # read before the snapshot: a job that has ended has no newer one
        latest, count = job._latest
        version = job.serial * FRAMES_PER_JOB + count
        if latest is None and not finished:
            with self._queue_lock:
                if job in self._queue:
                    ahead = self._queue[:self._queue.index(job)]
                    return Frame(Queued(ahead=sum(not j.control.cancelled for j in ahead)), version, False)
            # started, no snapshot yet: a fork still shows its stand-in, anything else None
        if job.stand_in is not None:
            caught_up = latest is not None and latest.iteration >= job.replay_to
            if not caught_up and not finished:
                return Frame(job.stand_in, job.serial * FRAMES_PER_JOB, False)
            job.stand_in = None
        return Frame(latest, version, finished)

    def job_of(self, viewer: str) -> Job | None:
        return self._by_viewer.get(viewer)

    def leave(self, viewer: str) -> None:
        """The viewer stops watching (closed tab, new settings); a job left alone is stopped."""
        with self._lock:
            job = self._by_viewer.pop(viewer, None)
            if job is None:
                return
            job.viewers.pop(viewer, None)
            if job.viewers:
                return
            self._file(job)
            if self._shared.get(job.config) is job:
                del self._shared[job.config]
            job.control.cancel()

    # --- housekeeping ---------------------------------------------------------------------
    def reap(self) -> None:
        """Drop viewers whose lease ran out (their jobs stop); file finished shared runs."""
        now = time.monotonic()
        with self._lock:
            for viewer, job in list(self._by_viewer.items()):
                if now - job.viewers.get(viewer, 0.0) > self.lease_seconds:
                    self.leave(viewer)
            for job in list(self._shared.values()):
                self._file(job)

    def stats(self) -> dict[str, int]:
        """Counts for tests, the page footer and the load test."""
        with self._lock:
            jobs = set(self._by_viewer.values()) | set(self._shared.values())
            with self._queue_lock:
                queued = sum(j in jobs for j in self._queue)
            return {"jobs": len(jobs), "training": sum(not j.finished for j in jobs) - queued,
                    "queued": queued, "viewers": len(self._by_viewer), "cached": len(self._done)}

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop every job and the reaper, and wait for their threads (tests, server exit)."""
        self._stop.set()
        with self._lock:
            for viewer in list(self._by_viewer):
                self.leave(viewer)
        with self._queue_lock:
            jobs = set(self._threads)  # also the ones left earlier and still winding down
        for job in jobs:
            job.control.cancel()
            if job.thread is not None:
                job.thread.join(timeout)
        if self._reaper_thread is not threading.current_thread():
            self._reaper_thread.join(timeout)

    def _reaper(self) -> None:
        while not self._stop.wait(min(1.0, self.lease_seconds / 4)):
            self.reap()

    def _take_slot(self, job: Job) -> bool:
        """Wait until `job` heads the queue and a slot is free (first come, first served).

        False when the job was cancelled while it waited; either way it leaves the queue.
        """
        with self._slot_freed:
            while True:
                if job.control.cancelled:
                    self._queue.remove(job)
                    self._slot_freed.notify_all()  # the next one may now be first
                    return False
                first = next((j for j in self._queue if not j.control.cancelled), None)
                if first is job and self._free_slots:
                    self._queue.remove(job)
                    self._free_slots -= 1
                    self._slot_freed.notify_all()  # another slot may still be free for the next
                    return True
                self._slot_freed.wait(0.05)  # also wakes to notice a cancel

    def _give_slot(self) -> None:
        with self._slot_freed:
            self._free_slots += 1
            self._slot_freed.notify_all()

    def _join(self, viewer: str, job: Job) -> Job:
        job.viewers[viewer] = time.monotonic()
        self._by_viewer[viewer] = job
        return job

    def _file(self, job: Job) -> None:
        """Keep a shared run that finished well in the LRU cache."""
        snap = job.latest
        if job.private or not job.finished or snap is None or snap.status != "done":
            return
        self._done[job.config] = snap
        self._done.move_to_end(job.config)
        while len(self._done) > self.cache_size:
            self._done.popitem(last=False)
