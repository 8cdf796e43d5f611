"""Shared fixtures for browser tests: a headless Chromium and Streamlit servers.

Tests skip when /usr/bin/chromium is missing (we use the distro browser rather
than `playwright install`, which needs internet).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    # Bind to port 0 so the OS picks an unused port (a tiny race is acceptable).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """A playwright Browser (system Chromium), shared by the whole session."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found; browser tests need the Debian chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def streamlit_server():
    """Factory: ``streamlit_server(script_path, env=None) -> base_url``; every server stops at teardown."""
    servers: list[StreamlitServer] = []

    def start(script_path: str | os.PathLike, env: dict[str, str] | None = None) -> str:
        servers.append(StreamlitServer(script_path, env))
        try:
            return servers[-1].wait_healthy()
        except RuntimeError as exc:
            pytest.fail(str(exc))

    yield start
    for server in servers:
        server.stop()


# --- one server per module, and the same start/stop for the UI benchmark -------------------------

class StreamlitServer:
    """A `streamlit run` process on a free loopback port; `url` answers /_stcore/health once started."""

    def __init__(self, script_path: str | os.PathLike, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH")) if p)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="streamlit-", suffix=".log")  # a file: nobody drains a pipe
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script_path),
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO_ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60) -> str:
        """Block until the health endpoint answers; RuntimeError (with the server log) if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"streamlit not healthy after {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def lab_server():
    """`streamlit run app.py` (the real lab, with .streamlit/config.toml), shared by a test module."""
    server = StreamlitServer(REPO_ROOT / "app.py")
    try:
        server.wait_healthy()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc))
    yield server
    server.stop()
