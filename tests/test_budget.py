"""What a run costs, counted before it starts: training, snapshots (the MC band) and memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dropviz.budget import BUDGET_BYTES, BUDGET_GFLOP, Refusal, budget_problem, run_cost
from dropviz.config import LabConfig, preset
from dropviz.i18n import LANGS, missing, translate
from dropviz.train import run

# The link of issue 11: accepted as 1,890 GFLOP of training, it ran ~7 s per iteration and took
# the server from 469 MB to 2.2 GB, for the MC band's 200 samples at every one of 3,001 snapshots.
HEAVY_BAND = LabConfig(width=1024, depth=6, n_points=10, epochs=3000, snapshot_every=1, mc_samples=200)


def said(refusal: Refusal | None, lang: str = "en") -> str:
    """The refusal as the page says it ('' for none)."""
    return translate(f"budget.{refusal.key}", lang, **refusal.fields) if refusal else ""


def test_the_source_demo_fits_with_room_to_spare():
    cost = run_cost(preset("source"))
    assert budget_problem(preset("source")) is None
    assert 10 < cost.gflop < 0.05 * BUDGET_GFLOP  # about 20 GFLOP
    assert cost.cores < 0.1  # a few percent of a core at the watching pace
    assert cost.memory_bytes < 0.05 * BUDGET_BYTES


def test_a_run_too_long_names_what_to_lower_and_how_many_epochs_fit():
    huge = LabConfig(width=1024, depth=6, epochs=20_000, n_points=500)
    problem = said(budget_problem(huge))
    for knob in ("width", "depth", "points", "epochs"):
        assert knob in problem
    fits = int(problem.split("at most ")[1].split()[0].replace(",", ""))
    assert fits >= 1 and budget_problem(huge.with_(epochs=fits)) is None
    zh = said(budget_problem(huge), "zh")
    assert f"{fits:,}" in zh and "训练轮数" in zh


def test_the_mc_band_at_every_snapshot_is_counted_and_refused_with_what_to_lower():
    cost = run_cost(HEAVY_BAND)
    assert cost.snapshot_gflop > 100 * cost.train_gflop
    problem = said(budget_problem(HEAVY_BAND, budget_bytes=4 << 30))  # the GFLOP alone refuse it too
    assert "MC-dropout" in problem and "iterations per frame" in problem
    assert "MC-dropout samples" in said(budget_problem(HEAVY_BAND))  # and its memory: 200 × 60 rows at width 1024
    assert budget_problem(HEAVY_BAND.with_(mc_samples=0, snapshot_every=20, epochs=1000)) is None


def test_every_size_knob_costs_more():
    base = preset("source")
    for field, bigger in (("width", 400), ("depth", 5), ("epochs", 4000), ("n_points", 20), ("mc_samples", 50)):
        assert run_cost(base.with_(**{field: bigger})).gflop > run_cost(base).gflop, field
    assert run_cost(base.with_(snapshot_every=1)).gflop > run_cost(base).gflop
    assert run_cost(base.with_(width=1024, n_points=500)).memory_bytes > run_cost(base).memory_bytes


def test_memory_too_big_for_one_run_is_refused():
    problem = said(budget_problem(LabConfig(width=1024, depth=6, n_points=500, epochs=1, mc_samples=200),
                                  budget_bytes=64 << 20))
    assert "MB" in problem and "MC-dropout samples" in problem


@pytest.mark.parametrize("lang", list(LANGS))
def test_every_refusal_is_said_in_every_language_with_its_numbers(lang):
    """Each kind of refusal has its sentence in the locale files, and every number it carries is in it."""
    refusals = [budget_problem(LabConfig(width=1024, depth=6, n_points=500, epochs=1, mc_samples=200), budget_bytes=64 << 20),
                budget_problem(LabConfig(width=1024, depth=6, n_points=500, epochs=1, mc_samples=200, n_seeds=3),
                               budget_bytes=64 << 20),
                budget_problem(HEAVY_BAND, budget_bytes=4 << 30),
                budget_problem(LabConfig(width=1024, depth=6, epochs=20_000, n_points=500)),
                budget_problem(LabConfig(width=200, depth=3, n_points=50, epochs=5000, n_seeds=10))]
    assert [r.key for r in refusals] == ["memory", "memory_seeds", "snapshots", "training", "training_seeds"]
    for refusal in refusals:
        text = said(refusal, lang)
        assert missing("")[0] not in text, refusal
        used = {"memory": ("mb", "budget_mb"), "snapshots": ("gflop", "budget", "snapshot_gflop", "snapshots", "mc_samples"),
                "training": ("gflop", "budget", "fits")}[refusal.key.removesuffix("_seeds")]
        for field in used + (("seeds",) if refusal.key.endswith("_seeds") else ()):
            assert refusal.fields[field] in text, (refusal.key, field)


MEASURE = """
import resource, sys, torch
torch.set_num_threads(1)
from dropviz.config import LabConfig
from dropviz.train import run
config = LabConfig(**eval(sys.argv[1]))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for snap in run(config):
    pass
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize("fields", [dict(width=1024, depth=4, n_points=500, epochs=3, device="cpu"),
                                    dict(width=512, depth=2, n_points=100, epochs=3, mc_samples=200, device="cpu")])
def test_the_memory_estimate_covers_what_a_run_really_takes(fields):
    # A process of its own: the peak resident memory a run adds after torch is imported.
    out = subprocess.run([sys.executable, "-c", MEASURE, repr(fields)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    grown = int(out.stdout.split()[-1])
    estimate = run_cost(LabConfig(**fields)).memory_bytes
    assert grown < estimate, (grown, estimate)


def test_every_seed_of_the_lab_is_counted():
    """The lab trains a pair per seed (train.run): the training cost grows with each, the snapshots
    less (the further seeds' losses only), and a refusal names the seeds as something to lower."""
    one, three = run_cost(preset("source")), run_cost(preset("source", n_seeds=3))
    assert three.train_gflop == pytest.approx(3 * one.train_gflop)
    assert one.snapshot_gflop < three.snapshot_gflop < 3 * one.snapshot_gflop
    assert three.memory_bytes > one.memory_bytes and three.cores > one.cores
    assert run_cost(preset("source", n_seeds=3), models=2).train_gflop == pytest.approx(one.train_gflop)  # a caller's count wins
    config = LabConfig(width=200, depth=3, n_points=50, epochs=5000)
    assert budget_problem(config.with_(n_seeds=1)) is None
    problem = said(budget_problem(config.with_(n_seeds=10)))
    assert "seeds (10)" in problem
    fits = int(problem.split("at most ")[1].split()[0].replace(",", ""))
    assert budget_problem(config.with_(n_seeds=10, epochs=fits)) is None
