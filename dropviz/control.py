"""Pause, resume, single-step and cancel a run from another thread; hand its worker back between slices.

A run is a generator (train.run). Before every iteration it asks `control.next_iteration()`:
RUN it, YIELD (paused, or the worker's time slice is over: the generator yields None and the
scheduler steps it again later) or STOP (cancelled). The scheduler (scheduler.py) paces runs
and wakes paused ones; `drive()` does the same in one thread, for scripts and tests.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

RUN, YIELD, STOP = "run", "yield", "stop"
Frame = TypeVar("Frame")

# A frame's details that only some charts draw, and those charts (ui/lab_charts.py CHARTS): the
# weight histograms ("hist", ~0.4 ms a frame at the source's size) and the network view ("net").
DETAILS = frozenset({"hist", "net"})
CHARTS_OF_DETAIL = {"hist": ("hist",), "net": ("net_p0", "net_p")}


def details_for(charts: Iterable[str]) -> frozenset[str]:
    """The details (DETAILS) that a viewer showing these chart keys needs."""
    shown = set(charts)
    return frozenset(detail for detail, keys in CHARTS_OF_DETAIL.items() if shown.intersection(keys))


class Control:
    """Shared between the code that steps a run (next_iteration, stepped) and everyone else.

    `frame_interval` > 0 asks for at most one snapshot per interval so people can watch it;
    0 (headless, benchmarks, lessons) trains flat out. `slice_end` (time.monotonic) is set by
    whoever steps the run: past it the run yields, so one run cannot hold a worker for long.
    `frame_stride` = k sends every k-th snapshot as a frame; those between only extend the loss
    history (the scheduler raises it when its worker is busy: fewer, costlier frames per run, the
    same numbers and the same pace in iterations per second).
    """

    def __init__(self, frame_interval: float = 0.0):
        self.frame_interval = frame_interval
        self.frame_stride = 1
        self.slice_end = math.inf
        self.shows = DETAILS
        self._cond = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._step_credit = 0  # iterations allowed while paused
        self._just_stepped = False
        self.on_change: Callable[[], None] | None = None  # the scheduler's wake-up, after any change
        self.ops: list[tuple[str, Any]] = []  # every call below, in order: a worker process replays them

    # --- called from any thread -------------------------------------------------------------
    def pause(self) -> None:
        self.ops.append(("pause", 0))
        self._change(paused=True)

    def resume(self) -> None:
        self.ops.append(("resume", 0))
        with self._cond:
            self._paused = False
            self._step_credit = 0  # unused steps must not fire after a later pause
        self._changed()

    def step(self, iterations: int = 1) -> None:
        """Pause (if running) and let exactly `iterations` more iterations run; a snapshot follows."""
        self.ops.append(("step", iterations))
        with self._cond:
            self._paused = True
            self._step_credit += iterations
        self._changed()

    def cancel(self) -> None:
        self.ops.append(("cancel", 0))
        self._change(cancelled=True)

    def show(self, details: Iterable[str]) -> None:
        """Compute only these DETAILS in the frames from the next one on: a chart turned back on
        gets its data from the next frame (the one it is shown meanwhile draws empty)."""
        details = frozenset(details)
        if details == self.shows:
            return
        self.ops.append(("show", details))
        self.shows = details
        self._changed()  # how a run in a worker process gets the op (workers.py `_forward_ops`)

    def apply(self, op: tuple[str, Any]) -> None:
        """Replay one entry of another Control's `ops` (a worker process mirrors the page's Control)."""
        name, arg = op
        if name in ("step", "show"):
            getattr(self, name)(arg)
        else:
            getattr(self, name)()

    def sync_steps(self, credit: int) -> None:
        """Take the steps left from the Control that really runs (in a worker process)."""
        with self._cond:
            self._step_credit = credit

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def busy(self) -> bool:
        """True while iterations still run: not paused, or paused with steps left to do."""
        return not self._paused or self._step_credit > 0

    @property
    def stepping(self) -> bool:
        """Steps are left to do: the run goes on flat out, unpaced (a Step press, a fork's replay)."""
        return self._step_credit > 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def wait_until_busy(self, timeout: float | None = None) -> None:
        """Block while paused without steps (drive(), a run without a scheduler)."""
        with self._cond:
            self._cond.wait_for(lambda: self.busy or self._cancelled, timeout)

    # --- called by the training loop ---------------------------------------------------------
    def next_iteration(self) -> str:
        """RUN, YIELD or STOP: asked before every iteration."""
        if self._cancelled:
            return STOP
        if time.monotonic() >= self.slice_end:
            return YIELD
        if not self._paused:  # the common case takes no lock
            return RUN
        with self._cond:
            if not self._step_credit:
                return YIELD
            self._step_credit -= 1
            self._just_stepped = self._step_credit == 0
            return RUN

    def stepped(self) -> bool:
        """True once during (or after) the last iteration of a step: the loop then sends a snapshot."""
        if self._just_stepped:
            self._just_stepped = False
            return True
        return False

    # --- internals -----------------------------------------------------------------------------
    def _change(self, **state: bool) -> None:
        with self._cond:
            for name, value in state.items():
                setattr(self, f"_{name}", value)
        self._changed()

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()
        if self.on_change is not None:  # outside our lock: the scheduler takes its own
            self.on_change()


def drive(frames: Iterable[Frame | None], control: Control) -> Iterator[Frame]:
    """A run stepped in this thread: its frames without the Nones, waiting while it is paused and
    pacing it to `control.frame_interval` (what the scheduler does for many runs at once)."""
    next_frame = time.monotonic()
    for frame in frames:
        if frame is None:
            control.wait_until_busy()
            continue
        yield frame
        if control.frame_interval > 0 and not control.stepping:
            next_frame = max(next_frame + control.frame_interval, time.monotonic())
            with control._cond:
                control._cond.wait_for(lambda: control.cancelled or control.stepping
                                       or time.monotonic() >= next_frame, max(0.0, next_frame - time.monotonic()))
