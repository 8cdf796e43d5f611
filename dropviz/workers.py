"""Worker processes that train, one scheduler thread each: the server's runs on every core.

Why processes, not more threads: a training step of a small network is many short torch ops,
and between every two of them a thread needs Python's GIL. Measured here, two threads training
in one process took 2.7–3.8× the wall time of one thread doing half the work: they spend the
step handing the GIL back and forth. So each usable core gets a process with ONE training
thread (scheduler.Scheduler, workers=1), and the server process keeps its GIL for pages and
chart frames.

`ProcessScheduler` looks like a Scheduler to the Runner (submit, position, stats, shutdown). A
task crosses as its key (a LabConfig or a lesson's spec, pickled); its Control's calls are
replayed in the worker (Control.ops); its frames come back pickled, as plain numpy data.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import sys
import threading
import time
import traceback
import types
from typing import Any

from .config import LabConfig
from .control import Control
from .scheduler import TRAINING_SHARE, TYPICAL_RUN_SECONDS, Scheduler, Task, usable_cores
from .train import run

log = logging.getLogger("dropviz")

REPORT_SECONDS = 0.25  # how often a worker tells the server its load and its queue


class RemoteError(Exception):
    """A run failed in a worker process; the message holds its traceback there."""


def snapshots(key: Any, control: Control):
    """What a job trains: a LabConfig runs the lab's pair; any other key (a lesson's frozen,
    hashable spec, e.g. a sweep) brings its own `snapshots(control)` generator."""
    return run(key, control) if isinstance(key, LabConfig) else key.snapshots(control)


def default_scheduler() -> Scheduler | "ProcessScheduler":
    """One worker process per usable core where there are several; else training in this process.
    DROPVIZ_WORKER_PROCESSES=0 keeps it in this process (a debugger, a one-core host)."""
    cores = usable_cores()
    if cores > 1 and os.environ.get("DROPVIZ_WORKER_PROCESSES", "") != "0":
        return ProcessScheduler(int(os.environ.get("DROPVIZ_WORKER_PROCESSES") or cores))
    return Scheduler(workers=1)


class _Worker:
    """One worker process and the thread that reads what it sends back."""

    def __init__(self, index: int, memory_capacity: int):
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads and torch
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, memory_capacity), daemon=True,
                                       name=f"dropviz-worker-{index}")
        with _bare_main():
            self.process.start()
        child.close()
        self.lock = threading.Lock()  # one sender at a time on the pipe; guards the fields below
        self.closed = False  # the process is gone and its runs are ended: nothing more may be sent to it
        self.tasks: dict[int, Task] = {}
        self.waiting: list[int] = []  # its queue, oldest first, as last reported (plus new ones)
        self.live, self.load, self.memory, self.run_seconds = 0, 0.0, 0, TYPICAL_RUN_SECONDS
        self.reader = threading.Thread(target=self._read, daemon=True, name=f"dropviz-reader-{index}")
        self.reader.start()

    def send(self, message: tuple) -> None:
        with self.lock:
            self._send(message)

    def _send(self, message: tuple) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the process is gone; the reader ends its tasks
            pass

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            getattr(self, f"_on_{message[0]}")(*message[1:])
        for task in self._take_all():
            _end(task, RemoteError("The worker process that trained this run stopped."))

    def _on_frame(self, tid: int, frame: Any, credit: int, applied: int, cpu_seconds: float) -> None:
        task = self.tasks.get(tid)
        if task is None:
            return
        task.cpu_seconds = cpu_seconds  # the page shows the real training speed from it
        if applied == len(task.control.ops):  # no call in flight: the worker's step count is the truth
            task.control.sync_steps(credit)
        task.state = "ready" if task.state == "waiting" else task.state
        task.frames_seen += 1
        task.on_frame(frame)

    def _on_end(self, tid: int, error: str | None) -> None:
        with self.lock:
            task = self.tasks.pop(tid, None)
            if tid in self.waiting:
                self.waiting.remove(tid)
        if task is not None:
            _end(task, RemoteError(error) if error else None)

    def _on_stats(self, live: int, load: float, memory: int, waiting: list[int], run_seconds: float) -> None:
        with self.lock:
            self.live, self.load, self.memory, self.run_seconds = live, load, memory, run_seconds
            fresh = [tid for tid in self.waiting if tid not in waiting and self.tasks.get(tid) is not None
                     and self.tasks[tid].state == "new"]  # sent after this report was made
            self.waiting = [tid for tid in waiting if tid in self.tasks] + fresh
            reported = set(waiting)
            for tid, task in self.tasks.items():
                if tid in reported and task.state in ("new", "waiting"):
                    task.state = "waiting"
                elif task.state == "waiting":
                    task.state = "ready"  # admitted since the last report
                # "new": sent, not reported on yet; it is not said to wait (it most likely starts at once)

    def _take_all(self) -> list[Task]:
        with self.lock:
            tasks, self.tasks, self.waiting, self.closed = list(self.tasks.values()), {}, [], True
        return tasks


@contextlib.contextmanager
def _bare_main():
    """spawn runs the parent's __main__ again in the child: under `streamlit run` or AppTest that
    is the page script, which must not run there. The worker needs nothing from it."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _end(task: Task, error: BaseException | None) -> None:
    task.state = "done"
    try:
        task.on_end(error)
    except Exception:
        log.exception("dropviz: a run's end callback failed")


class ProcessScheduler:
    """`processes` worker processes, each a Scheduler with one training thread."""

    def __init__(self, processes: int | None = None, memory_capacity: int = 2 << 30, max_waiting: int = 200):
        self.processes = processes or usable_cores()
        self.max_waiting = max_waiting
        self._memory_each = memory_capacity // self.processes
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one submit at a time replaces a worker that died
        self._workers = [_Worker(i, self._memory_each) for i in range(self.processes)]
        self._tids: dict[int, tuple[_Worker, int]] = {}  # id(task) → its worker and id there

    def submit(self, task: Task) -> bool:
        if sum(len(w.waiting) for w in self._workers) >= self.max_waiting:
            return False
        tid = next(self._ids)
        while True:
            worker = min(self._live_workers(), key=self._expected_load)
            with worker.lock:
                if not worker.closed:  # else it died since it was chosen: choose again
                    self._send_start(worker, tid, task)
                    break
        self._tids[id(task)] = (worker, tid)
        task.control.on_change = lambda: self._forward_ops(task)
        self._forward_ops(task)  # calls made while it was being sent
        return True

    def _live_workers(self) -> list[_Worker]:
        """The workers, a new process in place of any that died (killed for memory, crashed): its runs
        were ended with a message, and the runs that come after must not wait on a dead pipe."""
        with self._lock:
            for i, worker in enumerate(self._workers):
                if worker.closed:
                    log.warning("dropviz: worker process %d stopped (exit code %s); starting a new one",
                                i, worker.process.exitcode)
                    self._workers[i] = _Worker(i, self._memory_each)
            return list(self._workers)

    @staticmethod
    def _send_start(worker: _Worker, tid: int, task: Task) -> None:
        """Under worker.lock: the task goes to that worker."""
        task.state, task.sent_ops = "new", len(task.control.ops)
        worker.tasks[tid] = task
        worker.waiting.append(tid)
        worker._send(("start", tid, task.key, task.control.frame_interval, list(task.control.ops),
                      task.cores, task.memory))

    @staticmethod
    def _expected_load(worker: _Worker) -> tuple[float, int]:
        """Its last reported load and the tasks it has not reported on yet, then its task count."""
        with worker.lock:
            unseen = sum(t.cores for t in worker.tasks.values() if t.state == "new")
            return worker.load + unseen, len(worker.tasks)

    def _forward_ops(self, task: Task) -> None:
        worker, tid = self._tids.get(id(task), (None, 0))
        if worker is None:
            return
        with worker.lock:
            ops = task.control.ops[task.sent_ops:]
            task.sent_ops += len(ops)
            if ops:
                worker._send(("ops", tid, ops))

    def position(self, task: Task) -> tuple[int, float] | None:
        worker, tid = self._tids.get(id(task), (None, 0))
        if worker is None or task.state != "waiting":
            return None
        with worker.lock:
            if tid not in worker.waiting:
                return None
            ahead = worker.waiting.index(tid)
            finishing_per_second = max(worker.live, 1) / worker.run_seconds
        return ahead, (ahead + 1) / finishing_per_second

    def stats(self) -> dict[str, float]:
        return {"live": sum(w.live for w in self._workers), "waiting": sum(len(w.waiting) for w in self._workers),
                "load": round(sum(w.load for w in self._workers), 3),
                "memory": sum(w.memory for w in self._workers), "workers": self.processes}

    def shutdown(self, timeout: float = 5.0) -> None:
        for worker in self._workers:
            worker.send(("stop",))
        for worker in self._workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout)
            worker.conn.close()
            worker.reader.join(timeout)
            for task in worker._take_all():
                _end(task, None)
        self._tids.clear()


def _serve(conn, memory_capacity: int) -> None:
    """A worker process: run what the server sends on one training thread; send frames and ends back."""
    import torch

    torch.set_num_threads(1)
    scheduler = Scheduler(workers=1, cpu_capacity=TRAINING_SHARE, memory_capacity=memory_capacity,
                          max_waiting=1_000_000)  # the server bounds the queue
    side = _WorkerSide(conn, scheduler)
    threading.Thread(target=side.report, daemon=True, name="dropviz-report").start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "stop":
            break
        getattr(side, message[0])(*message[1:])  # start or ops
    scheduler.shutdown()


class _WorkerSide:
    """In a worker process: the server's runs, their Controls, and what goes back down the pipe."""

    def __init__(self, conn, scheduler: Scheduler):
        self.conn, self.scheduler = conn, scheduler
        self.lock = threading.Lock()  # one sender at a time: the training thread and the reporter
        self.controls: dict[int, tuple[Control, list[int]]] = {}  # id → its Control, [ops applied]
        self.tasks: dict[int, Task] = {}

    def send(self, message: tuple) -> None:
        with self.lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                pass

    def start(self, tid: int, key: Any, frame_interval: float, ops: list, cores: float, memory: int) -> None:
        control = Control(frame_interval)
        for op in ops:
            control.apply(op)
        applied = [len(ops)]
        self.controls[tid] = (control, applied)

        def on_frame(frame: Any) -> None:
            self.send(("frame", tid, frame, control._step_credit, applied[0], self.tasks[tid].cpu_seconds))

        def on_end(error: BaseException | None) -> None:
            self.controls.pop(tid, None)
            self.tasks.pop(tid, None)
            self.send(("end", tid, "".join(traceback.format_exception(error)) if error else None))

        self.tasks[tid] = Task(snapshots(key, control), control, on_frame, on_end, cores=cores, memory=memory, key=key)
        self.scheduler.submit(self.tasks[tid])

    def ops(self, tid: int, ops: list) -> None:
        """Pause, resume, step and cancel from the page, replayed on the run's Control here."""
        control, applied = self.controls.get(tid, (None, [0]))
        if control is not None:
            applied[0] += len(ops)
            for op in ops:
                control.apply(op)

    def report(self) -> None:
        """Every REPORT_SECONDS: this worker's load, memory and queue, for admission and positions."""
        scheduler = self.scheduler
        while True:
            with scheduler._cond:
                waiting = [next((tid for tid, t in self.tasks.items() if t is task), 0) for task in scheduler._waiting]
                run_seconds = scheduler._run_seconds
            stats = scheduler.stats()
            self.send(("stats", stats["live"], stats["load"], stats["memory"], waiting, run_seconds))
            time.sleep(REPORT_SECONDS)
