"""A `streamlit run` process for the browser tests, the UI benchmark, the load test and the leak check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    # Bind to port 0 so the OS picks an unused port (a tiny race is acceptable).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run <script>` headless on 127.0.0.1 and a free port, logging to a temp file.

    `env` adds to the environment; `options` are more `--section.option value` flags; `port` (default: a
    free one) lets a new server take over the port of a stopped one, as a restarted server does. The
    repo's .streamlit/config.toml applies. As a context manager it waits until healthy and stops at the end.
    """

    def __init__(self, script_path: str | os.PathLike = REPO_ROOT / "app.py", env: dict[str, str] | None = None,
                 options: dict[str, str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH")) if p)
        self.log = tempfile.NamedTemporaryFile("w+", prefix="streamlit-", suffix=".log")  # a file: nobody drains a pipe
        args = [sys.executable, "-m", "streamlit", "run", str(script_path),
                "--server.port", str(self.port), "--server.address", "127.0.0.1",
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none"]
        for key, value in (options or {}).items():
            args += [f"--{key}", value]
        self.proc = subprocess.Popen(args, cwd=REPO_ROOT, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_healthy(self, timeout: float = 60) -> str:
        """Block until the health endpoint answers; RuntimeError (with the server log) if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"streamlit not healthy after {timeout:g} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        """What the server has logged so far."""
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.log.close()

    def __enter__(self) -> "StreamlitServer":
        try:
            self.wait_healthy(timeout=90)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
