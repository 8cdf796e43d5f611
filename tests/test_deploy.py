"""Hosting files: the Docker build context is complete, and requirements.txt alone runs the app."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dockerignored(path: str) -> bool:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return any(fnmatch.fnmatch(path, pat) or path.split("/")[0] == pat for pat in patterns)


def test_dockerfile_has_what_a_host_needs():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", text, re.M), "runs as a non-root user"
    assert "/_stcore/health" in text and "HEALTHCHECK" in text
    assert "OMP_NUM_THREADS=1" in text
    assert "requirements.txt" in text


def test_everything_the_dockerfile_copies_is_in_the_build_context():
    text = (ROOT / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M):
        for src in sources.split():
            assert (ROOT / src).exists(), f"{src} is missing"
            assert not dockerignored(src), f"{src} is excluded by .dockerignore"
    assert dockerignored(".venv") and dockerignored("tests")


def test_requirements_pin_a_cpu_torch_build():
    text = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu$", text, re.M)
    assert "whl/cpu" in text


def test_compose_runs_the_proxy_config_that_the_proxy_test_runs():
    """docker-compose mounts deploy/haproxy.cfg (tests/browser/test_proxy.py runs it on loopback): sticky by
    cookie, never by address (a class behind one NAT is one address), websockets kept an hour."""
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg" in compose
    assert compose.count("${DROPVIZ_COOKIE_SECRET:?") == 2, "the replicas and the proxy share one secret"
    assert not (ROOT / "deploy" / "nginx.conf").exists()
    live = "\n".join(line.split("#")[0].rstrip() for line in config.splitlines())  # without comments
    assert re.search(r"^\s*cookie SRV insert indirect nocache\b", live, re.M)
    assert re.search(r"^\s*balance roundrobin$", live, re.M), "not `balance source`: that is ip_hash again"
    assert re.search(r"^\s*option redispatch$", live, re.M)
    assert re.search(r"^\s*option httpchk GET /_stcore/health$", live, re.M)
    assert re.search(r"^\s*timeout tunnel 1h$", live, re.M)
    assert re.search(r"^\s*bind :8080\b", live, re.M) and '"8080:8080"' in compose


@pytest.mark.slow
def test_requirements_alone_install_and_serve_the_app(tmp_path):
    """A fresh virtual environment from requirements.txt, then `streamlit run app.py`, headless."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--retries", "1", "-r", str(ROOT / "requirements.txt")],
                   check=True, timeout=540)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen([str(py), "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _healthy(port, timeout=60), "server never became healthy"
        # The script itself must run with only these packages: AppTest from the same venv.
        check = subprocess.run([str(py), "-c", "from streamlit.testing.v1 import AppTest\n"
                                "at = AppTest.from_file('app.py', default_timeout=60); at.run()\n"
                                "assert not at.exception, at.exception\n"
                                "from dropviz.ui.page import get_runner; get_runner().shutdown()\n"
                                "print('ok')"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert check.stdout.strip().endswith("ok"), check.stdout + check.stderr
    finally:
        server.terminate()
        server.wait(10)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False
