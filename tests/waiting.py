"""Other threads and processes in a test: wait for a condition (failing with what was awaited), or
keep something running meanwhile."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

import pytest


def wait_for(condition, timeout: float = 10.0, what: str = "condition", every: float = 0.005):
    """Poll `condition()` until it is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def meanwhile(step: Callable[[int, threading.Event], None], join_timeout: float = 30.0) -> Iterator[None]:
    """Another thread calls step(0, stop), step(1, stop), … until the block ends (then `stop` is set):
    other students' runs, or anything else a server does at the same time."""
    stop = threading.Event()

    def work():
        count = 0
        while not stop.is_set():
            step(count, stop)
            count += 1

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(join_timeout)
