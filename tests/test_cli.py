"""The command line: flags from the config, clean errors, outputs, sweeps, results and the benchmark."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from dropviz import bench, cli
from dropviz.config import SCHEMA, LabConfig, preset

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--width", "16", "--depth", "2", "--epochs", "40", "--snapshot-every", "10", "--device", "cpu"]


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


def python_m(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "dropviz", *argv], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


# --- flags ---------------------------------------------------------------------------------------------

def test_every_config_field_has_a_flag_with_its_help():
    parser = cli.build_parser()
    run_parser = parser._subparsers._group_actions[0].choices["run"]
    by_dest = {a.dest: a for a in run_parser._actions}
    for f in fields(LabConfig):
        action = by_dest[f.name]
        assert f"--{f.name.replace('_', '-')}" in action.option_strings
        assert action.help.startswith(SCHEMA[f.name].help)
    assert "--preset" in by_dest["preset"].option_strings


def test_flags_and_preset_make_the_config():
    args = cli.build_parser().parse_args(["run", "--preset", "classroom", "--p", "0.3", "--width", "64",
                                          "--weight_decay", "0.01", "--optimizer", "ADAM", "--epochs", "1e3"])
    config = cli.config_from_args(args)
    assert (config.p, config.width, config.weight_decay, config.optimizer, config.epochs) == (0.3, 64, 0.01, "adam", 1000)
    assert config.noise == 1.0 and config.dataset == "linear"  # from the preset


@pytest.mark.parametrize("argv,field", [
    (["--p", "1.5"], "p"), (["--p", "1"], "p"), (["--width", "abc"], "width"), (["--width", "2.5"], "width"),
    (["--depth", "0"], "depth"), (["--lr", "nan"], "lr"), (["--optimizer", "rmsprop"], "optimizer"),
    (["--device", "tpu"], "device"), (["--epochs", "20001"], "epochs"), (["--p", "0.995"], "p"),
    (["--mc-samples", "1"], "mc_samples"), (["--p", "<script>"], "p"), (["--seed", "1e999"], "seed"),
])
def test_bad_values_give_one_clean_line_and_exit_2(argv, field, capsys):
    assert run_cli("run", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dropviz: error: {field}=") and "\n" not in err


def test_bad_values_from_a_real_process_have_no_traceback():
    out = python_m("run", "--p", "1.5")
    assert out.returncode == 2
    assert out.stderr.strip() == "dropviz: error: p=1.5: must be 0 ≤ value ≤ 0.99"
    assert "Traceback" not in out.stderr + out.stdout


def test_out_must_be_json_or_csv(capsys):
    with pytest.raises(SystemExit) as e:
        run_cli("run", "--out", "run.txt")
    assert e.value.code == 2
    assert ".json or .csv" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [
    ("0,0.5", [0.0, 0.5]), ("0,0.1,...,0.5", [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]), ("0, 0.25 ,...,1", [0, 0.25, 0.5, 0.75, 1]),
])
def test_parse_list(text, expected):
    assert cli.parse_list(text) == pytest.approx(expected)


def test_parse_list_ints_and_errors():
    assert cli.parse_list("1,...,5", int) == [1, 2, 3, 4, 5]
    for bad in ("...,3", "1,...", "0.5,0.4,...,1", "a,b"):
        with pytest.raises(ValueError):
            cli.parse_list(bad)


# --- run ---------------------------------------------------------------------------------------------------

def test_run_prints_a_table_and_a_verdict(capsys):
    assert run_cli("run", *SMALL, "--p", "0.3") == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "dropout" in out and "0.3" in out
    assert "generalises better" in out or "equally well" in out


def test_run_with_several_seeds_lists_every_model_and_counts_the_seeds(capsys, tmp_path):
    path = tmp_path / "run.json"
    assert run_cli("run", *SMALL, "--seed", "4", "--n-seeds", "3", "--out", str(path)) == 0
    out = capsys.readouterr().out
    doc = json.loads(path.read_text())
    models = doc["final"]["models"]
    assert [(m["p"], m["seed"]) for m in models] == [(0.0, 4), (0.5, 4), (0.0, 5), (0.5, 5), (0.0, 6), (0.5, 6)]
    rows = [line.split() for line in out.splitlines() if line.startswith(("baseline", "dropout"))]
    assert [(row[0], float(row[1]), int(row[2])) for row in rows] == [
        ("baseline" if m["p"] == 0 else "dropout", m["p"], m["seed"]) for m in models]  # a row per model, with its seed
    lower = sum(b["test_loss"] > d["test_loss"] for b, d in zip(models[::2], models[1::2]))
    assert f"Dropout had the lower test loss on {lower} of 3 seeds (median " in out
    assert len(doc["history"]["train_loss"][0]) == 2  # the history is the charted pair's (seed 4)


def test_run_writes_json(tmp_path):
    path = tmp_path / "run.json"
    assert run_cli("run", *SMALL, "--out", str(path)) == 0
    doc = json.loads(path.read_text())
    assert doc["config"]["width"] == 16 and doc["final"]["status"] == "done"
    assert [m["p"] for m in doc["final"]["models"]] == [0.0, 0.5]
    h = doc["history"]
    assert h["iteration"][-1] == 40 and len(h["train_loss"]) == len(h["iteration"]) and len(h["train_loss"][0]) == 2
    assert h["test_loss"][-1][1] == pytest.approx(doc["final"]["models"][1]["test_loss"])


def test_run_writes_csv(tmp_path):
    path = tmp_path / "run.csv"
    assert run_cli("run", *SMALL, "--out", str(path)) == 0
    rows = list(csv.DictReader(path.open()))
    assert set(rows[0]) == {"iteration", "model", "p", "seed", "train_loss", "test_loss"}
    assert {r["iteration"] for r in rows} >= {"10", "40"} and len(rows) % 2 == 0
    assert [r["p"] for r in rows if r["iteration"] == "40"] == ["0", "0.5"]


def test_divergence_prints_the_message_and_exits_nonzero():
    out = python_m("run", *SMALL, "--lr", "10")
    assert out.returncode == 1
    assert "diverged" in out.stderr and "learning rate" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_progress_bar_only_when_asked_or_on_a_terminal():
    stream = io.StringIO()
    bar = cli.Progress(100, stream=stream)
    bar.update(50, force=True)
    assert stream.getvalue() == ""  # StringIO is not a terminal
    bar = cli.Progress(100, enabled=True, stream=stream)
    bar.update(50, "note", force=True)
    bar.close()
    assert "\r[" in stream.getvalue() and "50/100" in stream.getvalue() and stream.getvalue().endswith("\n")


# --- sweep and results ------------------------------------------------------------------------------------------

def test_sweep_prints_one_row_per_p(capsys):
    assert run_cli("sweep", *SMALL, "--ps", "0,0.25,...,0.75", "--seeds", "1,2") == 0
    out = capsys.readouterr().out
    assert "8 models" in out
    lines = [l for l in out.splitlines() if l.split() and l.split()[0] in {"0", "0.25", "0.5", "0.75"}]
    assert len(lines) == 4
    assert "Lowest median test loss" in out


def test_sweep_rejects_bad_ps(capsys):
    assert run_cli("sweep", *SMALL, "--ps", "0,1.2") == 2
    assert "p=1.2" in capsys.readouterr().err
    assert run_cli("sweep", *SMALL, "--ps", "0,x") == 2


def test_results_prints_a_markdown_table(capsys, tmp_path):
    path = tmp_path / "results.json"
    assert run_cli("results", "--seeds", "1,2", "--epochs", "30", "--device", "cpu", "--json", str(path)) == 0
    out = capsys.readouterr().out
    assert out.startswith("| preset | data | p | train loss | test loss |")
    assert sum(line.startswith("| source |") for line in out.splitlines()) == 2
    assert sum(line.startswith("| classroom |") for line in out.splitlines()) == 2
    doc = json.loads(path.read_text())
    assert set(doc) == {"source", "classroom"} and len(doc["source"]["test_loss_median"]) == 2


def test_results_rejects_unknown_preset(capsys):
    assert run_cli("results", "--presets", "nope") == 2
    assert "preset='nope'" in capsys.readouterr().err


# --- bench -----------------------------------------------------------------------------------------------------

def test_matmul_flops_of_the_source_network():
    # Forward 10·(200 + 40000 + 40000 + 200) multiply-adds, weight grads the same, input grads
    # the same less the first layer's; 2 FLOPs each.
    assert bench.matmul_flops([1, 200, 200, 200, 1], 10) == 2 * 10 * (3 * 80400 - 200)


def test_bench_measures_every_case(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert run_cli("bench", "--repeats", "1", "--seconds", "0.01", "--json", str(path)) == 0
    out = capsys.readouterr().out
    for word in ("reference", "pair", "sweep", "fp32 matmul peak", "pair vs reference", "sweep vs pair"):
        assert word in out
    r = json.loads(path.read_text())
    assert r["cases"]["sweep"]["models"] == 16 and r["peak_gflops"] > 0 and r["threads"] >= 1
    assert r["pair_vs_reference"] > 0 and r["sweep_vs_pair"] > 0
    assert all(case["weights_finite_after_timing"] for case in r["cases"].values()) and "WARNING" not in out


def test_bench_end_to_end_times_whole_processes(monkeypatch, capsys):
    """`bench --end-to-end` runs the lab's `run` and the source's loop as processes (here faked: the
    processes are the slow part) and prints the lab's N-minus-1 time and both ratios."""
    calls = []
    def fake_run(command, **kw):
        calls.append((command, kw.get("env", {})))
        time.sleep(0.05 if "50" in command else 0.01)  # N iterations take longer than 1

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert run_cli("bench", "--end-to-end", "--iterations", "50", "--repeats", "1", "--backend", "reference") == 0
    out = capsys.readouterr().out
    assert "dropviz run (reference backend), 50 minus 1 iterations" in out
    lab = [c for c, _ in calls if "dropviz" in c]
    assert [c[c.index("--epochs") + 1] for c in lab] == ["50", "1"]
    assert all(env["DROPVIZ_BACKEND"] == "reference" for _, env in calls)

def test_bench_profile_shows_where_the_time_goes():
    text = bench.profile(iterations=5, top=8)  # the top 3 alone can miss bmm when the profiler stalls one op
    for name in ("pair", "sweep"):
        line = next(l for l in text.splitlines() if l.startswith(f"{name}: "))
        share = int(line.split("(")[1].split("%")[0])
        assert 0 < share < 100 and "in matmuls" in line
    assert "aten::bmm" in text and "[16, 10, 200]" in text  # the sweep's ops, with their shapes


def test_the_benchmarked_sweep_trains_without_diverging():
    # The sweep's p values must stay trainable at the source's learning rate for as long as the
    # benchmark times them (a few thousand steps); p = 0.7 diverged there within ~200.
    config = preset("source", device="cpu")
    step, weights = bench.batched_step(config, *bench.batched_models(config)["sweep"])
    for _ in range(1000):
        step()
    assert torch.isfinite(weights[0]).all()
