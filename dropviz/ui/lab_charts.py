"""The lab's five live charts of a snapshot, encoded once for every viewer of that run.

The page sends them inline on a script run; server.py's frames route sends newer ones while the
run trains, without a script run per frame.
"""

from __future__ import annotations

import functools
import gzip

from .. import figures
from ..i18n import translator
from ..runner import Frame
from ..train import Snapshot
from .live_chart import Encoded, encode

CHARTS = {  # key → (figure function, height); all but the first two hide with ?hide=charts_extra
    "fit": (figures.fit_figure, 360), "loss": (figures.loss_figure, 360),
    "masks": (figures.masks_figure, 360), "norms": (figures.weight_norm_figure, 360),
    "hist": (figures.weight_hist_figure, 260),
}


@functools.lru_cache(maxsize=64)
def encoded_charts(snap: Snapshot, language: str, version: int | None = None) -> dict[str, Encoded]:
    """Every chart of a snapshot, built and encoded once however many viewers watch that run."""
    tr = translator(language)
    return {key: encode(make(snap, t=tr), key=key, height=height, version=version)
            for key, (make, height) in CHARTS.items()}


# A frame is asked for by every viewer of its run within ~0.2 s, so a few recent ones are all
# that is worth keeping (each 30–120 kB, and as much again gzipped).
@functools.lru_cache(maxsize=16)
def _frame_body(snap: Snapshot | None, version: int, final: bool, language: str, keys: tuple[str, ...]) -> bytes:
    charts = encoded_charts(snap, language, version) if isinstance(snap, Snapshot) else {}
    parts = b",".join(b'"%s":%s' % (key.encode(), charts[key]) for key in keys if key in charts)
    at = b'"iteration":%d,"total":%d,' % (snap.iteration, snap.total) if isinstance(snap, Snapshot) else b""
    return b'{"version":%d,"final":%s,%s"charts":{%s}}' % (version, b"true" if final else b"false", at, parts)


@functools.lru_cache(maxsize=16)
def _gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


def frame_body(frame: Frame, language: str, keys: tuple[str, ...], gzipped: bool) -> bytes:
    """A viewer's frame as the JSON the page's chart module reads: version, final, iteration and
    total, and the charts named in `keys` (none while the run is queued or starting). Made, and gzipped, once per
    snapshot and language, whoever asks."""
    body = _frame_body(frame.shown if isinstance(frame.shown, Snapshot) else None, frame.version, frame.final,
                       language, keys)
    return _gzipped(body) if gzipped else body
