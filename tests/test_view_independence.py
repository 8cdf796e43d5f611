"""A run's numbers never depend on how it is watched (issue 13, point 3): a property test.

The view is everything a viewer or the server decides and the run itself does not: how often a
snapshot is taken (`snapshot_every`), the MC band (`mc_samples`), pauses, single steps and a
fork's replay (control.py), the worker handed to other runs at the end of a time slice, a busy
worker's frame stride (snapshots in between only extend the history), and other runs stepping in
the same process meanwhile, in this thread between our iterations or in another thread, and the
details its viewers' charts show (Control.show: weight histograms, the network view).

Whatever the view, each snapshot `train.run(config, control)` yields must hold bit for bit the
numbers of the same iteration of the plain run (a snapshot every iteration, no band, nobody
else): the losses (every model's, and the history's rows), the masks, and the weights as the
snapshot shows them: per-layer norms, histograms (counts and edges: the weights' min and max,
where the snapshot has them) and eval-mode predictions. A snapshot has the histograms and the
network view exactly when they were shown as it was made.
"""

from __future__ import annotations

import functools
import math
from typing import Iterator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dropviz.config import LabConfig
from dropviz.control import DETAILS, Control
from dropviz.train import Snapshot, run
from tests.waiting import meanwhile

# What a run learns: small enough that a run takes ~0.1 s (width 8, 2 hidden layers, 24 iterations).
BASE = LabConfig(width=8, depth=2, epochs=24, dataset="sine", n_points=12, p=0.4, device="cpu",
                 snapshot_every=1, mc_samples=0)
# Numbers compared, per snapshot: (M,) losses, (A,) every model's losses, (layers, M) weight norms,
# (M, G) predictions, (M, depth, N, H) masks and (M, depth) drop rates.
FIELDS = ("train_loss", "test_loss", "all_train_loss", "all_test_loss", "weight_norm", "pred", "masks", "drop_rate")
# Other runs that step in the same process: another seed, and the `torch` variant, whose masks are
# the ones F.dropout would draw: it touches torch's global generator if anything does. (Until
# model.py drew them from the run's own generators, train.py seeded the global one for it, and the
# MC band, another torch-variant run or a busy thread changed the masks such a run trained with.)
OTHERS = (BASE.with_(seed=7, width=6, snapshot_every=5), BASE.with_(seed=8, variant="torch", p=0.6, snapshot_every=5))


@functools.lru_cache(maxsize=None)
def plain(numbers: LabConfig) -> dict[int, Snapshot]:
    """The plain run of these settings: a snapshot every iteration, no band, nobody else; by iteration."""
    return {snap.iteration: snap for snap in run(numbers.with_(snapshot_every=1, mc_samples=0))}


def assert_same_numbers(snap: Snapshot, ref: Snapshot, view: str) -> None:
    where = f"iteration {snap.iteration}, view {view}"
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(snap, name), getattr(ref, name), err_msg=f"{name} at {where}")
    if snap.weight_hist:  # (hidden charts: none computed)
        assert len(snap.weight_hist) == len(ref.weight_hist)
    for layer, ((counts, edges), (ref_counts, ref_edges)) in enumerate(zip(snap.weight_hist, ref.weight_hist)):
        np.testing.assert_array_equal(counts, ref_counts, err_msg=f"layer {layer}'s histogram at {where}")
        np.testing.assert_array_equal(edges, ref_edges, err_msg=f"layer {layer}'s histogram edges at {where}")
    # The history: every row it kept is the plain run's row of that iteration (which kept them all).
    rows = np.searchsorted(ref.history["iteration"], snap.history["iteration"])
    np.testing.assert_array_equal(ref.history["iteration"][rows], snap.history["iteration"], err_msg=where)
    for key in ("train", "test", "weight_norm"):
        np.testing.assert_array_equal(snap.history[key], ref.history[key][rows], err_msg=f"history {key} at {where}")


def watch(config: LabConfig, ops: list) -> list[tuple[Snapshot, frozenset[str]]]:
    """Step `train.run(config, control)` in this thread as a viewer and the server would, applying one
    op of `ops` after each thing it yields (a snapshot, or None when it hands its worker back):

      ("pause",) / ("resume",) / ("step", k): a student's buttons (step: pause, then k iterations);
      ("slice",): the time slice is over: the run yields before its next iteration;
      ("stride", k): a busy worker sends every k-th snapshot only (Control.frame_stride);
      ("others", k): every other run (OTHERS) steps k more times, in this thread;
      ("show", details): the viewers' charts now draw these DETAILS only (Control.show).

    Once the ops are used up, a run that hands its worker back is resumed. Returns the snapshots
    the run yielded, each with the details shown while it was made."""
    control, pending = Control(), list(ops)
    others = [run(other, Control()) for other in OTHERS]
    snaps, shows = [], control.shows
    for item in run(config, control):
        if item is not None:
            snaps.append((item, shows))
        control.slice_end = math.inf
        if pending:
            apply(pending.pop(0), control, others)
        elif item is None:
            control.resume()
        shows = control.shows  # what the next item is made with
    return snaps


def apply(op: tuple, control: Control, others: list[Iterator]) -> None:
    name = op[0]
    if name == "step":
        control.step(op[1])
    elif name == "show":
        control.show(op[1])
    elif name == "stride":
        control.frame_stride = op[1]
    elif name == "slice":
        control.slice_end = -math.inf  # next_iteration() answers YIELD until the worker steps us again
    elif name == "others":
        for other in others:
            for _ in range(op[1]):
                next(other, None)
    else:
        getattr(control, name)()


def check(config: LabConfig, ops: list) -> None:
    snaps, ref = watch(config, ops), plain(config.with_(snapshot_every=1, mc_samples=0))
    view = f"snapshot_every={config.snapshot_every}, mc_samples={config.mc_samples}, ops={ops}"
    last = snaps[-1][0]
    assert last.iteration == config.epochs and last.status == "done", view
    assert last.history["iteration"][-1] == config.epochs, view  # the last iteration is in the history
    for snap, shows in snaps:
        assert_same_numbers(snap, ref[snap.iteration], view)
        assert bool(snap.weight_hist) == ("hist" in shows), f"histograms at {snap.iteration}, {view}"
        assert (snap.net is not None) == ("net" in shows), f"network view at {snap.iteration}, {view}"


SHOWS = [frozenset(), frozenset({"hist"}), frozenset({"net"}), DETAILS]  # ?hide=charts_extra shows none
OPS = st.lists(st.one_of(st.just(("pause",)), st.just(("resume",)), st.just(("slice",)),
                         st.tuples(st.just("step"), st.integers(1, 9)), st.tuples(st.just("others"), st.integers(1, 4)),
                         st.tuples(st.just("stride"), st.integers(1, 4)),
                         st.tuples(st.just("show"), st.sampled_from(SHOWS))),
               max_size=14)
NUMBERS = st.builds(lambda optimizer, n_seeds: (optimizer, n_seeds), st.sampled_from(["sgd", "adam"]),
                    st.sampled_from([1, 2]))
VARIANTS = ["inverted", "vanilla", "torch"]  # torch: F.dropout's masks, drawn from the run's own generators


@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(numbers=NUMBERS, snapshot_every=st.sampled_from([1, 2, 3, 5, 7, 24, 50]), mc_samples=st.sampled_from([0, 2, 5]),
       ops=OPS)
@example(numbers=("sgd", 1), snapshot_every=5, mc_samples=3, ops=[])  # the band alone
@example(numbers=("sgd", 1), snapshot_every=1, mc_samples=0, ops=[("others", 3)] * 6)  # other runs alone
@example(numbers=("adam", 2), snapshot_every=4, mc_samples=2,
         ops=[("stride", 3), ("step", 5), ("pause",), ("step", 1), ("slice",), ("others", 2), ("resume",)])
@example(numbers=("sgd", 2), snapshot_every=3, mc_samples=2,  # charts hidden, one back, all back, all hidden
         ops=[("show", frozenset()), ("others", 1), ("show", frozenset({"net"})), ("stride", 2), ("show", DETAILS),
              ("step", 4), ("show", frozenset()), ("resume",)])
def test_a_runs_numbers_do_not_depend_on_how_it_is_watched(variant, numbers, snapshot_every, mc_samples, ops):
    optimizer, n_seeds = numbers
    config = BASE.with_(variant=variant, optimizer=optimizer, n_seeds=n_seeds, snapshot_every=snapshot_every,
                        mc_samples=mc_samples)
    check(config, ops)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_paused_run_and_its_replay_show_the_same_numbers(variant):
    """A student pauses at iteration 10 (a step of 10); their private fork replays the run to there
    in one go while other runs step in between; both show the plain run's iteration 10."""
    config = BASE.with_(variant=variant, snapshot_every=3, mc_samples=2)
    paused = [s for s, _ in watch(config, [("step", 4), ("others", 1), ("step", 6)]) if s.iteration == 10]
    replay = [s for s, _ in watch(config, [("step", 10), ("others", 2), ("others", 2)]) if s.iteration == 10]
    assert paused and replay
    for snap in paused + replay:
        assert_same_numbers(snap, plain(config.with_(snapshot_every=1, mc_samples=0))[10], "pause and replay")


def busy_neighbour():
    """Another thread that trains a torch-variant run and draws from torch's global generator,
    reseeding it, until the block ends: what other students' runs and lessons do on a server."""
    def step(seed: int, stop) -> None:
        for snap in run(OTHERS[1].with_(seed=seed % 50)):
            torch.manual_seed(seed)
            torch.rand(64)
            if stop.is_set():
                break
    return meanwhile(step)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_run_is_the_same_while_another_thread_trains_and_uses_the_global_generator(variant):
    config = BASE.with_(variant=variant, epochs=40, snapshot_every=4, mc_samples=2)
    with busy_neighbour():
        snaps = list(run(config))
    for snap in snaps:
        assert_same_numbers(snap, plain(config.with_(snapshot_every=1, mc_samples=0))[snap.iteration], "threads")


def test_hidden_details_are_not_computed_and_come_back_at_the_next_frame():
    """?hide=charts_extra: no histograms and no network view in the frames; the charts turned back on
    at iteration 8 get both from the next frame (12) on. A run nobody told anything computes all."""
    control = Control()
    control.show(frozenset())
    snaps = []
    for snap in run(BASE.with_(snapshot_every=4), control):
        snaps.append(snap)
        if snap.iteration == 8:
            control.show(DETAILS)
    hidden, shown = [s for s in snaps if s.iteration <= 8], [s for s in snaps if s.iteration > 8]
    assert [s.iteration for s in hidden] == [0, 4, 8] and shown
    assert all(s.weight_hist == [] and s.net is None for s in hidden)
    assert all(len(s.weight_hist) == BASE.depth + 1 and s.net is not None for s in shown)
    assert all(s.weight_hist and s.net is not None for s in run(BASE.with_(snapshot_every=4)))
