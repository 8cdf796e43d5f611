"""Chart payloads: the fast encoder (json's C encoder with numpy arrays as typed arrays) writes
exactly what the figure walk writes, NaN losses included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dropviz.config import LabConfig
from dropviz.i18n import translator
from dropviz.train import run
from dropviz.ui import live_chart
from dropviz.ui.lab_charts import CHARTS


def slow(figure: dict, key: str) -> dict:
    fig, template = live_chart.compact_figure(figure)
    return json.loads(json.dumps(live_chart._payload(fig, template, key, 300, 7)))


@pytest.mark.parametrize("config", [LabConfig(width=16, epochs=60, device="cpu", mc_samples=3),
                                    LabConfig(width=16, epochs=60, lr=10.0, device="cpu"),  # diverges: NaN
                                    LabConfig(dataset="xor", n_points=40, width=8, epochs=60, device="cpu")])  # 2-D
def test_the_fast_payload_is_the_walked_one(config):
    snaps = [s for s in run(config) if s is not None]
    for snap in (snaps[0], snaps[len(snaps) // 2], snaps[-1]):
        for key, (make, _) in CHARTS.items():
            figure = make(snap, t=translator("zh"))
            fast = json.loads(live_chart.encode(figure, key=key, height=300, version=7))
            assert fast == slow(figure, key), key


def test_a_plain_nan_becomes_null_not_invalid_json():
    figure = {"data": [{"type": "scatter", "x": np.arange(3.0), "y": [1.0, float("nan"), 2.0]}],
              "layout": {"title": {"text": "t"}, "yaxis": {"range": [0, float("inf")]}}}
    payload = json.loads(live_chart.encode(figure, key="k"))  # strict JSON: NaN would not parse in a browser
    assert payload["figure"]["data"][0]["y"] == [1.0, None, 2.0]
    assert payload["figure"]["layout"]["yaxis"]["range"] == [0, None]
    assert payload["figure"]["data"][0]["x"]["dtype"] == "f4"
