"""The lab's sidebar: widgets in, one LabConfig out, kept in the URL so any view is a shareable link.

A slider's value lives in st.session_state["w_<field>"]; `read_config` turns those values into a
LabConfig (through config.clamp, like any untrusted input), and the page hands it to the runner.
"""

from __future__ import annotations

import streamlit as st

from ..config import DEFAULTS, LIMITS, PRESETS, LabConfig, clamp, preset, to_query
from ..devices import cuda_available
from . import urlstate
from .common import classroom_query, hidden, t

KEY = "w_{}".format  # session-state key of a field's widget
PRESET_CHOICES = (*PRESETS, "custom")
VIEW_FIELDS = ("snapshot_every", "mc_samples", "variant", "device")  # a preset leaves these alone
BUTTONS = ("train", "pause", "step", "reset")
P_MAX = 0.999  # the p slider's end: p must stay below 1


def load_url_once() -> list[str]:
    """On a session's first run, put the URL's settings into the widgets; return what was changed."""
    if "url_notices" not in st.session_state:
        raw = {k: (v if len(v) > 1 else v[0]) for k in st.query_params
               if (v := st.query_params.get_all(k))}
        config, notices = clamp(raw)
        if config.p > P_MAX:  # valid (p < 1) but past the slider's end
            notices.append(f"p: {config.p!r} is beyond the slider; using {P_MAX}")
            config = config.with_(p=P_MAX)
        _set_widgets(config)
        urlstate.remember([KEY(name) for name in LIMITS] + ["w_preset"])
        st.session_state.url_notices = notices
        st.session_state.w_preset = _matching_preset(config)
    return st.session_state.url_notices


def _set_widgets(config: LabConfig) -> None:
    for name, value in config.to_dict().items():
        st.session_state[KEY(name)] = value


def _matching_preset(config: LabConfig) -> str:
    view = {k: getattr(config, k) for k in VIEW_FIELDS}
    return next((name for name in PRESETS if preset(name, **view) == config), "custom")


def _apply_preset() -> None:
    name = st.session_state.w_preset
    if name in PRESETS:
        _set_widgets(preset(name, **{k: st.session_state[KEY(k)] for k in VIEW_FIELDS}))


def _mark_custom() -> None:
    st.session_state.w_preset = _matching_preset(read_config())


def sidebar() -> str | None:
    """Draw the controls (minus those the link hides); return the button pressed, if any."""
    sb = st.sidebar
    if not hidden("preset"):
        sb.selectbox(t("lab.labels.preset"), PRESET_CHOICES, key="w_preset", on_change=_apply_preset,
                     format_func=lambda name: t(f"lab.presets.{name}"), help=t("lab.help.preset"))
    for name, step in (("p", 0.01), ("width", 1), ("epochs", 1)):
        if not hidden(name):
            _slider(sb, name, step)
    pressed = None
    if not hidden("buttons"):
        for col, action in zip(sb.columns(2) + sb.columns(2), BUTTONS):
            if col.button(t(f"lab.buttons.{action}"), key=f"b_{action}", help=t(f"lab.button_help.{action}"),
                          use_container_width=True):
                pressed = action
    if hidden("advanced"):
        return pressed
    # Lazy: the dozen controls inside are only drawn (and sent) while it is open. Drawn closed,
    # they cost a new page ~0.4 s of the browser's time before the first chart (ui_bench). Their
    # values live on in session_state meanwhile (urlstate.keep_all), so a run's settings stay.
    advanced = sb.expander(t("lab.advanced"), key="lab_advanced", on_change="rerun")
    if not advanced.open:
        return pressed
    with advanced:
        _slider(st, "depth", 1)
        _number(st, "lr", "%.5g")
        _select(st, "optimizer")
        _number(st, "weight_decay", "%.5g")
        _slider(st, "n_points", 1)
        _slider(st, "noise", 0.05)
        _select(st, "dataset")
        _number(st, "seed", "%d")
        _select(st, "variant")
        if cuda_available():
            _select(st, "device")
        _slider(st, "snapshot_every", 1)
        _slider(st, "mc_samples", 1)
    return pressed


def _slider(where, name: str, step) -> None:
    """A slider over the field's whole range (the config's limits), so any valid link fits on it."""
    limit, kind = LIMITS[name], type(getattr(DEFAULTS, name))
    hi = P_MAX if name == "p" else limit.hi
    where.slider(t(f"lab.labels.{name}"), kind(limit.lo), kind(hi), step=kind(step), key=KEY(name),
                 help=t(f"lab.help.{name}"), on_change=_mark_custom)


def _number(where, name: str, fmt: str) -> None:
    limit, kind = LIMITS[name], type(getattr(DEFAULTS, name))
    where.number_input(t(f"lab.labels.{name}"), kind(limit.lo), kind(limit.hi), key=KEY(name), format=fmt,
                       help=t(f"lab.help.{name}"), on_change=_mark_custom)


def _select(where, name: str) -> None:
    where.selectbox(t(f"lab.labels.{name}"), LIMITS[name].choices, key=KEY(name), help=t(f"lab.help.{name}"),
                    on_change=_mark_custom)


def read_config() -> LabConfig:
    """The config the widgets show (clamped, so it is always valid)."""
    raw = {name: st.session_state.get(KEY(name), getattr(DEFAULTS, name)) for name in LIMITS}
    return clamp(raw)[0]


def page_query(config: LabConfig) -> dict[str, str]:
    """The lab's URL: settings that differ from the defaults, plus language and classroom flags."""
    return {**to_query(config), **classroom_query()}


def sync_url(config: LabConfig) -> None:
    """Write the settings into the address bar."""
    urlstate.write_query(page_query(config))
