"""Pause, resume, single-step and cancel a run from another thread, and pace it for the eye."""

from __future__ import annotations

import threading
import time
from typing import Callable


class Control:
    """Shared between the training thread (which calls `wait`, `stepped`, `pace`) and everyone else.

    `frame_interval` > 0 slows a run to at most one snapshot per interval so people can watch it;
    0 (headless, benchmarks) trains flat out.
    """

    def __init__(self, frame_interval: float = 0.0):
        self.frame_interval = frame_interval
        self._cond = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._step_credit = 0  # iterations allowed while paused
        self._just_stepped = False
        self._next_frame = 0.0
        self.on_idle: Callable[[], None] | None = None  # called before a pause blocks the loop
        self.on_busy: Callable[[], bool] = lambda: True  # called after; False = cancelled meanwhile

    # --- called from any thread -------------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._step_credit = 0  # unused steps must not fire after a later pause
            self._cond.notify_all()

    def step(self, iterations: int = 1) -> None:
        """Pause (if running) and let exactly `iterations` more iterations run; a snapshot follows."""
        with self._cond:
            self._paused = True
            self._step_credit += iterations
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def busy(self) -> bool:
        """True while iterations still run: not paused, or paused with steps left to do."""
        return not self._paused or self._step_credit > 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    # --- called by the training loop ---------------------------------------------------------
    def wait(self) -> bool:
        """Block while paused; False once cancelled. Called before every iteration.

        While blocked, `on_idle()` runs first and `on_busy()` after (the runner lends the paused
        run's training thread slot to others); `on_busy()` returning False means cancelled.
        """
        if not self._paused and not self._cancelled:  # the fast path takes no lock
            return True
        with self._cond:
            blocking = self._paused and not self._step_credit and not self._cancelled
        if blocking and self.on_idle:
            self.on_idle()
        with self._cond:
            while self._paused and not self._step_credit and not self._cancelled:
                self._cond.wait()
            go = not self._cancelled
            if go and self._paused:
                self._step_credit -= 1
                self._just_stepped = self._step_credit == 0
        if blocking and self.on_idle and go:
            return self.on_busy()
        return go

    def stepped(self) -> bool:
        """True once during (or after) the last iteration of a step: the loop then sends a snapshot."""
        if self._just_stepped:
            self._just_stepped = False
            return True
        return False

    def pace(self) -> None:
        """Sleep until the next frame is due (cancel or resume wakes it early)."""
        if self.frame_interval <= 0:
            return
        now = time.monotonic()
        self._next_frame = max(self._next_frame + self.frame_interval, now)
        with self._cond:
            while not self._cancelled and not self._step_credit and time.monotonic() < self._next_frame:
                self._cond.wait(self._next_frame - time.monotonic())
