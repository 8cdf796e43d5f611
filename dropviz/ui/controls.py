"""The sidebar: widgets in, one LabConfig out, kept in the URL so any view is a shareable link.

A slider's value lives in st.session_state["w_<field>"]; `read_config` turns those values into a
LabConfig (through config.clamp, like any untrusted input), and the page hands it to the runner.
"""

from __future__ import annotations

import streamlit as st

from ..config import DEFAULTS, LIMITS, LabConfig, clamp, preset, to_query
from ..devices import cuda_available
from . import text

KEY = "w_{}".format  # session-state key of a field's widget


def load_url_once() -> list[str]:
    """On a session's first run, put the URL's settings into the widgets; return what was changed."""
    if "url_notices" not in st.session_state:
        raw = {k: (v if len(v) > 1 else v[0]) for k in st.query_params
               if (v := st.query_params.get_all(k))}
        config, notices = clamp(raw)
        _set_widgets(config)
        st.session_state.url_notices = notices
        st.session_state.w_preset = _matching_preset(config)
    return st.session_state.url_notices


def _set_widgets(config: LabConfig) -> None:
    for name, value in config.to_dict().items():
        st.session_state[KEY(name)] = value


def _matching_preset(config: LabConfig) -> str:
    for label, name in text.PRESETS.items():
        if name and preset(name, snapshot_every=config.snapshot_every, mc_samples=config.mc_samples,
                           variant=config.variant, device=config.device) == config:
            return label
    return "Custom"


def _apply_preset() -> None:
    name = text.PRESETS[st.session_state.w_preset]
    if name:
        keep = {k: st.session_state[KEY(k)] for k in ("snapshot_every", "mc_samples", "variant", "device")}
        _set_widgets(preset(name, **keep))


def _mark_custom() -> None:
    st.session_state.w_preset = _matching_preset(read_config())


def sidebar() -> str | None:
    """Draw the controls; return the button pressed, if any."""
    sb = st.sidebar
    sb.selectbox(text.LABELS["preset"], list(text.PRESETS), key="w_preset", on_change=_apply_preset,
                 help=text.PRESET_HELP)
    _slider(sb, "p", 0.0, 0.99, 0.01)
    _slider(sb, "width", 1, 1024, 1)
    _slider(sb, "epochs", 1, 20_000, 1)
    cols = sb.columns(2) + sb.columns(2)
    pressed = None
    for col, (action, label) in zip(cols, text.BUTTONS.items()):
        if col.button(label, key=f"b_{action}", help=text.BUTTON_HELP[action], use_container_width=True):
            pressed = action
    with sb.expander("Advanced"):
        _slider(st, "depth", 1, 6, 1)
        _number(st, "lr", "%.5g")
        _select(st, "optimizer")
        _number(st, "weight_decay", "%.5g")
        _slider(st, "n_points", 2, 500, 1)
        _slider(st, "noise", 0.0, 3.0, 0.05)
        _select(st, "dataset")
        _number(st, "seed", "%d")
        _select(st, "variant")
        if cuda_available():
            _select(st, "device")
        _slider(st, "snapshot_every", 1, 200, 1)
        _slider(st, "mc_samples", 0, 100, 1)
    return pressed


def _slider(where, name: str, lo, hi, step) -> None:
    where.slider(text.LABELS[name], lo, hi, step=step, key=KEY(name), help=text.HELP[name], on_change=_mark_custom)


def _number(where, name: str, fmt: str) -> None:
    limit = LIMITS[name]
    kind = type(getattr(DEFAULTS, name))
    where.number_input(text.LABELS[name], kind(limit.lo), kind(limit.hi), key=KEY(name), format=fmt,
                       help=text.HELP[name], on_change=_mark_custom)


def _select(where, name: str) -> None:
    where.selectbox(text.LABELS[name], LIMITS[name].choices, key=KEY(name), help=text.HELP[name],
                    on_change=_mark_custom)


def read_config() -> LabConfig:
    """The config the widgets show (clamped, so it is always valid)."""
    raw = {name: st.session_state.get(KEY(name), getattr(DEFAULTS, name)) for name in LIMITS}
    return clamp(raw)[0]


def sync_url(config: LabConfig) -> None:
    """Write the settings into the address bar (only what differs from the defaults)."""
    wanted = to_query(config)
    if {k: st.query_params.get_all(k) for k in st.query_params} != {k: [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)
