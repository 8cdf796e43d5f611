"""Shared fixtures for browser tests: a headless Chromium and Streamlit servers.

Tests skip when /usr/bin/chromium is missing (we use the distro browser rather
than `playwright install`, which needs internet).
"""

from __future__ import annotations

import os

import pytest

from tests.streamlit_server import REPO_ROOT, StreamlitServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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


# --- one server per module ------------------------------------------------------------------------
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
