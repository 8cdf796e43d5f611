"""The exported script is plain PyTorch and reproduces the lab's p = 0 model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dropviz.config import preset
from dropviz.export import pytorch_script
from dropviz.train import run


@pytest.mark.parametrize("name,optimizer", [("source", "sgd"), ("classroom", "adam")])
def test_script_reproduces_the_baseline_model(name, optimizer):
    config = preset(name, width=16, epochs=60, optimizer=optimizer, lr=0.01)
    namespace: dict = {}
    exec(compile(pytorch_script(config), "dropviz_run.py", "exec"), namespace)
    results = namespace["main"]()
    *_, last = run(config)
    # p = 0 has no randomness after the seed: same data, same weights, same updates.
    assert np.allclose(results[0.0], (last.train_loss[0], last.test_loss[0]), rtol=1e-3)
    assert set(results) == {0.0, config.p}


def test_script_runs_standalone_without_dropviz(tmp_path):
    path = tmp_path / "dropviz_run.py"
    path.write_text(pytorch_script(preset("source", width=8, epochs=5, p=0.3)))
    out = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "p = 0: train loss" in out.stdout and "p = 0.3: train loss" in out.stdout
