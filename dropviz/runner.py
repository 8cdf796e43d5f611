"""Which run each viewer watches: shared runs, private forks, leases and the results cache.

One `Runner` per server process. A viewer (one browser session) `watch`es a config: viewers of
the same config share one job, and a finished run's last snapshot stays in a cache bounded in
bytes, so the next viewer gets it at once. A viewer who pauses, steps or resets gets a private
job (`make_private`) that replays the run deterministically to the same iteration, so no
student's click changes another student's view. A viewer watches one job at a time: that is the
per-session limit of live runs. Every poll renews the viewer's lease; the reaper cancels jobs
nobody has polled for `lease_seconds`, so closed tabs leave nothing behind.

Training itself happens in the scheduler (scheduler.py), in worker processes where the server
has several cores (workers.py): a job is a task there, its frames come back through `Job._on_frame`.
A job's frames compute the details (weight histograms, network view) that at least one of its
viewers' charts draws, and nothing the others hide (Control.show; `watch`'s `charts`).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any, Iterable

import numpy as np

from .budget import run_cost
from .config import LabConfig
from .control import DETAILS, Control, details_for
from .scheduler import Scheduler, Task
from .train import Snapshot
from .workers import ProcessScheduler, default_scheduler, snapshots

log = logging.getLogger("dropviz")

FRAME_INTERVAL = 0.2  # seconds between snapshots of a live run: 5 frames per second
CACHE_BYTES = 64 << 20  # finished shared runs' last snapshots kept for the next viewer
FULL_MESSAGE = ("The server is full: {waiting} runs are waiting to start. Please try again in a minute, or join "
                "a run someone else started (the same settings share one run).")
FAILED_MESSAGE = "This run stopped because of an error on the server; we have logged it. Train again, or change a setting."


def demand(key: Any, frame_interval: float) -> tuple[float, int]:
    """(cores, bytes) a job is expected to use before it has been measured."""
    if isinstance(key, LabConfig):
        cost = run_cost(key, frame_interval=frame_interval)
        return cost.cores, cost.memory_bytes
    return 1.0, getattr(key, "memory_bytes", 0)  # lessons train flat out


@dataclass
class Queued:
    """What `latest` gives while a job waits to start: runs ahead of it and about how long."""

    ahead: int
    seconds: float = 0.0


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
    """One training run, a task of the scheduler (or a finished one from the cache, with none)."""

    def __init__(self, config: Any, private: bool = False, result: Snapshot | None = None):
        self.config, self.private = config, private
        self.control = Control()
        self.serial = next(_job_serials)
        # (newest snapshot, how many so far), replaced as one tuple so a reader never sees one
        # without the other.
        self._latest: tuple[Snapshot | None, int] = (result, int(result is not None))
        self.error = ""  # set when training failed: the one sentence this run's viewers see
        self.viewers: dict[str, float] = {}  # session id → time of its last poll
        self.task: Task | None = None
        self._ended = threading.Event()
        if result is not None:
            self._ended.set()
        # A fork replaying to its parent's iteration shows the parent's snapshot until it gets there,
        # so the viewer sees the view they paused, not a fast-forward from iteration 0.
        self.stand_in: Snapshot | None = None
        self.replay_to = 0

    @property
    def latest(self) -> Snapshot | None:
        return self._latest[0]

    @property
    def finished(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (tests, scripts); False on timeout."""
        return self._ended.wait(timeout)

    def start(self, scheduler: Scheduler | ProcessScheduler, frame_interval: float, replay_to: int = 0) -> "Job":
        self.control.frame_interval = frame_interval
        if replay_to:  # fast-forward to where the shared run was, then hold still
            self.control.step(replay_to)
        cores, memory = demand(self.config, frame_interval)
        self.task = Task(self._frames(), self.control, self._on_frame, self._on_end,
                         cores=cores, memory=memory, key=self.config)
        if not scheduler.submit(self.task):
            self.error = FULL_MESSAGE.format(waiting=scheduler.stats()["waiting"])
            self._ended.set()
        return self

    def _frames(self):
        """The run's frames, made lazily: whatever fails, even the start, fails in the scheduler's hands."""
        yield from snapshots(self.config, self.control)

    def _on_frame(self, snap: Snapshot) -> None:
        self._latest = (snap, self._latest[1] + 1)

    def _on_end(self, error: BaseException | None) -> None:
        if error is not None:  # logged in full for us; one sentence for the students
            log.error("dropviz: run %r failed", self.config, exc_info=error)
            self.error = FAILED_MESSAGE
        self._ended.set()


class Runner:
    """All jobs of the process: sharing, leases and the results cache, on one scheduler."""

    def __init__(self, scheduler: Scheduler | ProcessScheduler | None = None, lease_seconds: float = 10.0,
                 frame_interval: float = FRAME_INTERVAL, cache_bytes: int = CACHE_BYTES):
        self.scheduler = scheduler or default_scheduler()
        self.lease_seconds, self.frame_interval, self.cache_bytes = lease_seconds, frame_interval, cache_bytes
        self._lock = threading.RLock()
        self._shared: dict[Any, Job] = {}  # live or finished shared jobs that have viewers
        self._by_viewer: dict[str, Job] = {}
        self._details: dict[str, frozenset[str]] = {}  # viewer → the frame details its charts draw
        self._done: OrderedDict[Any, tuple[Snapshot, int]] = OrderedDict()  # finished shared runs, LRU, with bytes
        self._stop = threading.Event()
        self._reaper_thread = threading.Thread(target=self._reaper, daemon=True, name="dropviz-reaper")
        self._reaper_thread.start()
        atexit.register(self.shutdown)  # a worker still inside torch at exit would abort the process

    # --- what a viewer does ---------------------------------------------------------------
    def watch(self, viewer: str, config: Any, charts: Iterable[str] | None = None) -> Job:
        """Follow the run of `config`: the viewer's current one, a shared one, the cache, or a new one.

        `charts`: the chart keys the viewer shows (None: as last said; everything if never said).
        """
        with self._lock:
            details = self._details.get(viewer, DETAILS) if charts is None else details_for(charts)
            job = self._by_viewer.get(viewer)
            if job is not None and job.config == config:
                return self._join(viewer, job, details)
            self.leave(viewer)
            job = self._shared.get(config)
            if job is None or job.error:  # a failed or refused run is tried afresh
                cached = self._done.get(config)
                if cached is not None:
                    self._done.move_to_end(config)
                    job = Job(config, result=cached[0])
                else:  # joined first: its first frame already computes only what the viewer shows
                    job = self._join(viewer, Job(config), details).start(self.scheduler, self.frame_interval)
                self._shared[config] = job
            return self._join(viewer, job, details)

    def make_private(self, viewer: str, config: Any, from_start: bool = False, hold: bool = False) -> Job:
        """The viewer's own job, forked from the run it watched at the same iteration unless `from_start`.

        A fork replays the run to that iteration and holds there; `hold` also holds a fresh start.
        """
        with self._lock:
            job = self._by_viewer.get(viewer)
            if job is not None and job.private and job.config == config and not from_start:
                return job
            details = self._details.get(viewer, DETAILS)
            at = 0
            if not from_start and job is not None and job.config == config and job.latest is not None:
                at = job.latest.iteration
            self.leave(viewer)
            fork = Job(config, private=True)
            if hold or at:
                fork.control.pause()
            if at:
                fork.stand_in, fork.replay_to = job.latest, at
            return self._join(viewer, fork, details).start(self.scheduler, self.frame_interval, replay_to=at)

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
        if latest is None and not finished and job.task is not None:
            waiting = self.scheduler.position(job.task)
            if waiting is not None:
                return Frame(Queued(*waiting), version, False)
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
            self._details.pop(viewer, None)
            if job is None:
                return
            job.viewers.pop(viewer, None)
            if job.viewers:
                self._show(job)  # what the viewers left still draw
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
        with self._lock:  # the cache too: a run that ends files itself into it from its worker's thread
            jobs = set(self._by_viewer.values()) | set(self._shared.values())
            viewers, cached, cached_bytes = len(self._by_viewer), len(self._done), sum(s for _, s in self._done.values())
        queued = sum(j.task is not None and self.scheduler.position(j.task) is not None for j in jobs)
        return {"jobs": len(jobs), "training": sum(not j.finished for j in jobs) - queued, "queued": queued,
                "viewers": viewers, "cached": cached, "cached_bytes": cached_bytes}

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job, the scheduler's workers and the reaper (tests, server exit)."""
        self._stop.set()
        with self._lock:
            for viewer in list(self._by_viewer):
                self.leave(viewer)
        self.scheduler.shutdown(timeout)
        if self._reaper_thread is not threading.current_thread():
            self._reaper_thread.join(timeout)

    def _reaper(self) -> None:
        while not self._stop.wait(min(1.0, self.lease_seconds / 4)):
            self.reap()

    def _join(self, viewer: str, job: Job, details: frozenset[str]) -> Job:
        job.viewers[viewer] = time.monotonic()
        self._by_viewer[viewer] = job
        self._details[viewer] = details
        self._show(job)
        return job

    def _show(self, job: Job) -> None:
        """A lab run's frames compute what any of its viewers draws: the union of their details.
        (Control.show does nothing when that is unchanged, so every poll may call this.) A lesson's
        experiment draws its own charts from everything it computes."""
        if isinstance(job.config, LabConfig):
            job.control.show(frozenset().union(*(self._details.get(v, DETAILS) for v in job.viewers)))

    def _file(self, job: Job) -> None:
        """Keep a shared run that finished well in the LRU cache, within `cache_bytes`."""
        snap = job.latest
        if job.private or not job.finished or snap is None or snap.status != "done":
            return
        if isinstance(job.config, LabConfig) and (snap.net is None or not snap.weight_hist):
            return  # its viewers hid some charts, which the next viewer may show
        self._done[job.config] = (snap, snapshot_bytes(snap))
        self._done.move_to_end(job.config)
        while sum(size for _, size in self._done.values()) > self.cache_bytes:
            self._done.popitem(last=False)


def snapshot_bytes(snap: Any) -> int:
    """Bytes of the arrays a snapshot holds (its fields, histories and histograms included)."""
    def size(value: Any) -> int:
        if isinstance(value, np.ndarray):
            return value.nbytes
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(size(v) for v in value)
        return 0
    return sum(size(getattr(snap, f.name)) for f in fields(snap) if f.name != "data")
