"""Fixtures shared by the test modules."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Train on one thread, as the runner's jobs do: two threads on a shared 2-core machine crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shutdown_runner():
    """Stop the page's runner after the test, and start the next test with a fresh one."""
    yield
    from dropviz.ui.common import reset_runner
    reset_runner()
