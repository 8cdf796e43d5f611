"""The lab's six live charts of a snapshot, encoded once for every viewer of that run.

The page sends them inline on a script run; server.py's frames route sends newer ones while the
run trains, without a script run per frame.
"""

from __future__ import annotations

import gzip
import weakref
from functools import partial

import numpy as np

from .. import figures
from ..net_figure import network_figure
from ..plane_figures import boundary_figure, by_task, loss_accuracy_figure
from ..i18n import translator
from ..runner import Frame
from ..train import Snapshot
from .byte_lru import ByteLRU
from .live_chart import Encoded, encode

CHARTS = {  # key → (figure function, height), drawn two to a row; all but the first two hide with ?hide=charts_extra
    # A 2-D run's first two: the decision boundaries, and accuracy beside the loss (plane_figures.py).
    "fit": (by_task(figures.fit_figure, boundary_figure), 360),
    "loss": (by_task(figures.loss_figure, loss_accuracy_figure), 360),
    # The network view: p = 0's whole network beside the dropout model's thinned one (net_figure.py).
    "net_p0": (partial(network_figure, model=0), 360), "net_p": (partial(network_figure, model=1), 360),
    "masks": (figures.masks_figure, 360), "norms": (figures.weight_norm_figure, 360),
    "hist": (figures.weight_hist_figure, 260),
    "seeds": (figures.seeds_figure, 360),  # each seed's test loss, p = 0 vs dropout: for beside "loss"
}
# ?big=1 (projector): 16 px text needs more room where panels are small; the fit and the loss keep
# theirs, so both stay on a 1280×720 screen.
BIG_HEIGHTS = {"norms": 440, "hist": 300}


def chart_height(key: str, big: bool = False) -> int:
    return BIG_HEIGHTS.get(key, CHARTS[key][1]) if big else CHARTS[key][1]


MB = 1 << 20
# What the two caches below may hold, in bytes of payload. The charts of the source demo's snapshot
# are ~40 kB, a frame about as much again, and the same gzipped; a width-1024, depth-6, 500-point
# run's are megabytes. Every viewer of a run asks for its newest frame within ~0.2 s, so a few
# recent snapshots per live run are all that is worth keeping.
ENCODED_CHARTS_BYTES = 64 * MB
FRAME_BYTES = 32 * MB  # a frame's JSON and its gzipped copy

# Keyed by the snapshot's id, with a weak reference to check it is still that snapshot: a cache
# entry never keeps a snapshot alive (one holds its masks: 6 MB at width 1024, depth 6, 500 points),
# that is the runner's business; an entry whose snapshot is gone is only its bytes, until evicted.
_encoded = ByteLRU(ENCODED_CHARTS_BYTES)
_frames = ByteLRU(FRAME_BYTES)


def _cached(cache: ByteLRU, snap: Snapshot | None, key: tuple):
    hit = cache.get((id(snap), *key))
    return hit[1] if hit is not None and hit[0]() is snap else None


def _keep(cache: ByteLRU, snap: Snapshot | None, key: tuple, value, size: int) -> None:
    ref = weakref.ref(snap) if snap is not None else (lambda: None)  # frames before the first snapshot
    cache.put((id(snap), *key), (ref, value), size)


def encoded_charts(snap: Snapshot, language: str, version: int | None = None, big: bool = False) -> dict[str, Encoded]:
    """Every chart of a snapshot, built and encoded once however many viewers watch that run
    (per language, and per size: `big` is the projector's, with 16 px text)."""
    charts = _cached(_encoded, snap, (language, version, big))
    if charts is None:
        tr = translator(language)
        charts = {key: encode(make(snap, t=tr, big=big), key=key, height=chart_height(key, big), version=version)
                  for key, (make, _) in CHARTS.items()}
        _keep(_encoded, snap, (language, version, big), charts, sum(map(len, charts.values())))
    return charts


def _frame_body(snap: Snapshot | None, version: int, final: bool, language: str, keys: tuple[str, ...],
                big: bool) -> bytes:
    charts = encoded_charts(snap, language, version, big) if isinstance(snap, Snapshot) else {}
    parts = b",".join(b'"%s":%s' % (key.encode(), charts[key]) for key in keys if key in charts)
    # The status line's live part (live_chart.js): where the run is, and the pace it is shown at.
    at = b'"iteration":%d,"total":%d,"its_per_sec":%.1f,"status":"%s",' % (
        snap.iteration, snap.total, snap.its_per_sec if np.isfinite(snap.its_per_sec) else 0.0,
        snap.status.encode()) if isinstance(snap, Snapshot) else b""
    return b'{"version":%d,"final":%s,%s"charts":{%s}}' % (version, b"true" if final else b"false", at, parts)


def frame_body(frame: Frame, language: str, keys: tuple[str, ...], gzipped: bool, big: bool = False) -> bytes:
    """A viewer's frame as the JSON the page's chart module reads: version, final, iteration,
    total, the pace (iterations per second it is shown at) and the run's status, and the charts
    named in `keys` (none while the run is queued or starting). Made, and gzipped, once per
    snapshot, language and size, whoever asks."""
    snap = frame.shown if isinstance(frame.shown, Snapshot) else None
    key = (frame.version, frame.final, language, keys, big)
    made = _cached(_frames, snap, key)
    if made is None:
        body = _frame_body(snap, *key)
        # Level 1: a fifth of level 6's time (0.12 vs 0.64 ms a frame) for 10 kB instead of 8.
        made = (body, gzip.compress(body, compresslevel=1, mtime=0))
        _keep(_frames, snap, key, made, len(made[0]) + len(made[1]))
    return made[1] if gzipped else made[0]
