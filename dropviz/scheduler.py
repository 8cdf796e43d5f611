"""A worker thread that steps many runs: runs share the CPU, not slots.

A run is a generator (train.run): each `next()` trains until its next frame (a snapshot) or
until it hands its worker back (None: paused, or its time slice is over; see control.py). A run
paced for watching trains for a few milliseconds per frame and then has nothing to do for
~0.2 s, so it must not hold a thread while it waits: here it waits in a heap keyed by the time
its next frame is due, and whichever worker is free steps the run that is due first (earliest
deadline first). A run that trains flat out, or whose frames cost more than its pace allows,
comes back at once but behind every run already due, one time slice at a time: it cannot starve
the paced ones. Paused runs leave the heap until their Control wakes them.

Admission: a run is started when the CPU it will use (measured once it has run, estimated
before) and its memory fit what is left; else it waits in a bounded queue, first come first
served, and can say where it stands and about how long it will wait.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from .control import Control

log = logging.getLogger("dropviz")

SLICE_SECONDS = 0.02  # longest a run holds a worker before others that are due get their turn
LOAD_WINDOW = 2.0  # seconds over which a run's CPU use is averaged
TYPICAL_RUN_SECONDS = 20.0  # a default run at the watching pace; the first guess of a queue's wait
# Of the usable cores, what training may take; the rest serves pages and chart frames. Measured with
# the load test's 60 students, each with their own p: at 0.8 runs queued for up to 10 s while the
# server used 1.0 of 2 cores; at 0.95 none queued and the server used 1.2-1.3 (frames thin out when
# many runs are live, so the page's share of a run's CPU falls as the class grows).
TRAINING_SHARE = 0.95
# Paced runs per worker that get every snapshot as a frame (five a second at the defaults). Past that,
# a frame costs more than the training it shows (a default run: ~2 ms of snapshot here and ~4 ms of
# chart encoding and serving in the web process, against ~6 ms for its 20 iterations), so a busy
# worker sends every k-th snapshot (Control.frame_stride): the pace and every number stay as they
# are, the charts move in larger steps, at least once a second.
FULL_RATE_RUNS = 6
# A paced run that fell behind its schedule (its worker was busy, the OS ran something else) gets
# its late frames back to back until it is on time again, up to this much lateness: its run still
# ends when its pace says, instead of every delay adding to its length.
CATCH_UP_SECONDS = 2.0
MAX_FRAME_STRIDE = 5


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, and a container's CPU limit (cgroup v2 or v1),
    not the host's os.cpu_count()."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def _cgroup_cpu_quota() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]  # "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


@dataclass(eq=False)
class Task:
    """One run for the scheduler: its frames, its Control, and where its frames and its end go.

    `cores` is the CPU the run is expected to use before it has been measured (1.0 = a whole
    core); `memory` its bytes while it lives. `on_end(error)` is called once, error None when
    the run ended by itself or was cancelled.
    """

    frames: Iterator[Any]
    control: Control
    on_frame: Callable[[Any], None]
    on_end: Callable[[BaseException | None], None]
    cores: float = 1.0
    memory: int = 0
    key: Any = None  # what the frames are made from (a config, a lesson's spec): what a worker process gets
    # scheduler's bookkeeping
    state: str = "new"  # new | waiting | ready | running | parked | done
    due: float = 0.0
    ticket: int = 0  # the heap entry that counts; older entries of this task are skipped
    admitted_at: float = 0.0
    cpu_seconds: float = 0.0  # CPU this task has used, in total
    frames_seen: int = 0
    sent_ops: int = 0  # Control.ops already forwarded to a worker process (workers.py)
    _recent: deque = field(default_factory=deque)  # (time, cpu seconds) of recent steps, for `load`

    def load(self, now: float) -> float:
        """Cores this task uses: none while paused, else its CPU over the last LOAD_WINDOW seconds
        once it has run that long, and the estimate `cores` before."""
        while self._recent and now - self._recent[0][0] > LOAD_WINDOW:
            self._recent.popleft()
        if self.state == "parked":
            return 0.0
        if now - self.admitted_at < LOAD_WINDOW:
            return self.cores
        return sum(cpu for _, cpu in self._recent) / LOAD_WINDOW


class Scheduler:
    """`workers` threads stepping every admitted task: one by default, since more threads in one
    process only fight over the GIL (workers.py measures it and puts one Scheduler per core in a
    process of its own)."""

    def __init__(self, workers: int | None = None, cpu_capacity: float | None = None,
                 memory_capacity: int = 2 << 30, max_waiting: int = 200, slice_seconds: float = SLICE_SECONDS):
        self.workers = workers or 1
        self.cpu_capacity = cpu_capacity if cpu_capacity is not None else TRAINING_SHARE * self.workers
        self.memory_capacity, self.max_waiting, self.slice_seconds = memory_capacity, max_waiting, slice_seconds
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Task, int]] = []  # (due, order, task, ticket)
        self._order = itertools.count()
        self._live: set[Task] = set()  # admitted and not ended: ready, running or parked
        self._waiting: deque[Task] = deque()  # not admitted yet, oldest first
        self._run_seconds = TYPICAL_RUN_SECONDS  # running mean of how long admitted tasks lived
        self._stop = False
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"dropviz-worker-{i}")
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    # --- what the runner does ---------------------------------------------------------------
    def submit(self, task: Task) -> bool:
        """Start `task` now if it fits, else queue it; False (and nothing done) when the queue is full."""
        task.control.on_change = lambda: self._wake(task)
        with self._cond:
            if self._stop or len(self._waiting) >= self.max_waiting:
                return False
            task.state = "waiting"
            self._waiting.append(task)
            self._admit()
        return True

    def position(self, task: Task) -> tuple[int, float] | None:
        """(runs ahead, about how many seconds until it starts) while `task` waits; else None."""
        with self._cond:
            if task.state != "waiting":
                return None
            ahead = sum(not t.control.cancelled for t in itertools.takewhile(lambda t: t is not task, self._waiting))
            finishing_per_second = max(len(self._live), 1) / self._run_seconds
            return ahead, (ahead + 1) / finishing_per_second

    def stats(self) -> dict[str, float]:
        now = time.monotonic()
        with self._cond:
            return {"live": len(self._live), "waiting": len(self._waiting),
                    "parked": sum(t.state == "parked" for t in self._live),
                    "load": round(sum(t.load(now) for t in self._live), 3),
                    "memory": sum(t.memory for t in self._live), "workers": self.workers}

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every task, end them, and join the workers."""
        with self._cond:
            self._stop = True
            tasks = list(self._live) + list(self._waiting)
        for task in tasks:
            task.control.cancel()
        with self._cond:
            for task in list(self._waiting):
                self._end(task, None)
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        for task in tasks:  # anything a worker did not get to before it stopped
            if task.state != "done":
                try:
                    task.frames.close()
                except ValueError:  # still in a step that outlived the join: it sees its cancel and stops
                    pass
                with self._cond:
                    self._end(task, None)

    # --- admission (under self._cond) -------------------------------------------------------
    def _admit(self) -> None:
        now = time.monotonic()
        while self._waiting:
            task = self._waiting[0]
            if task.control.cancelled:  # left before it started: it never runs
                self._waiting.popleft()
                self._end(task, None)
                continue
            load = sum(t.load(now) for t in self._live)
            memory = sum(t.memory for t in self._live)
            fits = load + min(task.cores, self.cpu_capacity) <= self.cpu_capacity + 1e-9 \
                and memory + task.memory <= self.memory_capacity
            if self._live and not fits:  # an empty server takes any run the budget let through
                return
            self._waiting.popleft()
            task.admitted_at = now
            self._live.add(task)
            self._push(task, now)

    def _push(self, task: Task, due: float) -> None:
        task.state, task.due, task.ticket = "ready", due, task.ticket + 1
        heapq.heappush(self._heap, (due, next(self._order), task, task.ticket))
        self._cond.notify()

    def _wake(self, task: Task) -> None:
        """The task's Control changed (resume, step, cancel): step it now if it was parked or waits
        for a later frame, so a cancel ends it and a step shows at once."""
        with self._cond:
            if task.state == "waiting" and task.control.cancelled:
                self._end(task, None)  # left the queue: it never runs
            elif task.state == "parked" or (task.state == "ready" and task.due > time.monotonic()):
                self._push(task, time.monotonic())

    def _end(self, task: Task, error: BaseException | None) -> None:
        if task.state == "done":
            return
        if task.state == "waiting":
            self._waiting.remove(task)
        elif task in self._live:
            self._live.discard(task)
            lived = time.monotonic() - task.admitted_at
            self._run_seconds += 0.1 * (lived - self._run_seconds)
        task.state = "done"
        try:
            task.on_end(error)
        except Exception:  # an end callback must not take a worker down
            log.exception("dropviz: a run's end callback failed")
        self._admit()

    # --- the workers --------------------------------------------------------------------------
    def _frame_stride(self) -> int:
        """Every how many snapshots a paced run sends a frame, given how many paced runs share the workers."""
        paced = sum(1 for task in self._live if task.control.frame_interval > 0)
        return max(1, min(MAX_FRAME_STRIDE, math.ceil(paced / (FULL_RATE_RUNS * self.workers))))

    def _work(self) -> None:
        torch.set_num_threads(1)  # per thread, not inherited: one core per worker
        while (task := self._next()) is not None:
            self._step(task)

    def _next(self) -> Task | None:
        """The task whose frame is due first, once it is due; None when the scheduler stops."""
        with self._cond:
            while not self._stop:
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, task, ticket = self._heap[0]
                if ticket != task.ticket or task.state != "ready":
                    heapq.heappop(self._heap)  # superseded by a newer entry of the same task
                    continue
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                task.state = "running"
                return task
            return None

    def _step(self, task: Task) -> None:
        """Advance `task` by one frame or one time slice, then put it back where it belongs."""
        control = task.control
        control.slice_end = time.monotonic() + self.slice_seconds
        started_cpu = time.thread_time()
        frame, ended, error = None, False, None
        try:
            frame = next(task.frames)
            if frame is not None:
                task.frames_seen += 1
                task.on_frame(frame)
        except StopIteration:
            ended = True
        except Exception as exc:  # a failure ends this run alone, never a worker or the server
            ended, error = True, exc
        now = time.monotonic()
        used = time.thread_time() - started_cpu
        task.cpu_seconds += used
        task._recent.append((now, used))
        with self._cond:
            if ended:
                self._end(task, error)
            elif control.cancelled:
                self._push(task, now)  # its next step yields the cancelled snapshot and ends
            elif frame is None and not control.busy:
                task.state = "parked"  # paused: _wake puts it back
            elif frame is not None and control.frame_interval > 0 and not control.stepping and task.frames_seen > 1:
                # paced; but the first frame (the untrained nets) is followed at once by the first trained one
                control.frame_stride = self._frame_stride()
                self._push(task, max(task.due + control.frame_interval * control.frame_stride, now - CATCH_UP_SECONDS))
            else:
                self._push(task, now)  # a slice ended, or it trains flat out: back in line behind who is due
