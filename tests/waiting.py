"""Waiting for another thread or process in a test: poll a condition, fail with what was awaited."""

from __future__ import annotations

import time

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
