"""The lab's controls: widgets in, one LabConfig out, kept in the URL so any view is a shareable link.

The controls a class uses while it watches (p, the run buttons, Copy link) sit in a bar at the top of
the page, above the charts (`top_bar`); the rest in the sidebar (`sidebar`). A slider's value lives
in st.session_state["w_<field>"]; `read_config` turns those values into a LabConfig (through
config.clamp, like any untrusted input), and the page hands it to the runner. Each widget's range
and steps come from the field's declaration in config.LIMITS.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from ..config import DEFAULTS, LIMITS, PRESETS, LabConfig, clamp, preset, to_query
from ..devices import cuda_available
from ..i18n import translator
from .common import classroom_query, hidden, lang, t
from . import urlstate

KEY = "w_{}".format  # session-state key of a field's widget
PRESET_CHOICES = (*PRESETS, "custom")
VIEW_FIELDS = ("snapshot_every", "mc_samples", "variant", "device")  # a preset leaves these alone
BUTTONS = ("train", "pause", "step", "reset")
P_MAX = 0.999  # the p slider's end: p must stay below 1
MC_MIN = 2  # MC-dropout needs two masks for a spread; one draws no band (its std is NaN)
# Widget values outlive runs that do not draw them (another page, the closed "Advanced" expander):
# Streamlit keeps them itself. Not urlstate.keep_all, which sets every value again at the top of
# each run: a value set from Python is pushed back to the browser's slider, so ArrowRight presses
# made while a rerun was under way were undone (30 presses in 6 s moved p 0.50 → 0.75, not 0.80).
PERSIST = "session"


def load_url_once() -> list[str]:
    """On a session's first run, put the URL's settings into the widgets; return what was changed.

    ?preset=<name> starts from that preset; other keys of the link override it.
    """
    if "url_notices" not in st.session_state:
        raw = {k: (v if len(v) > 1 else v[0]) for k in st.query_params
               if (v := st.query_params.get_all(k))}
        name = str(raw.pop("preset", "")).strip().lower()
        config, notices = clamp(raw, base=preset(name) if name in PRESETS else DEFAULTS)
        if name and name not in PRESETS:
            notices.append(f"preset: {name[:40]!r} is not one of {', '.join(PRESETS)}")
        if config.p > P_MAX:  # valid (p < 1) but past the slider's end
            notices.append(f"p: {config.p!r} is beyond the slider; using {P_MAX}")
            config = config.with_(p=P_MAX)
        if config.mc_samples == 1:
            notices.append(f"mc_samples: 1 mask has no spread, so no band; using {MC_MIN}")
            config = config.with_(mc_samples=MC_MIN)
        _set_widgets(config)
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


def top_bar():
    """p and the run buttons, above the charts; returns (the button pressed or None, the slot for
    Copy link, filled by the page once it knows the settings). Sticky on a phone (common.LAYOUT_CSS),
    so p can be moved while the fit stays in view."""
    bar = st.container(key="dropviz-controls")
    left, right = bar.columns([4, 7], vertical_alignment="bottom")
    if not hidden("p"):
        _slider(left, "p")
    pressed = None
    row = right.container(horizontal=True, key="dropviz-buttons", gap="small")
    if not hidden("buttons"):
        for action in BUTTONS:
            if row.button(t(f"lab.buttons.{action}"), key=f"b_{action}", help=t(f"lab.button_help.{action}"),
                          type="primary" if action == "train" else "secondary"):
                pressed = action
    return pressed, row.container(key="dropviz-link")


def sidebar() -> None:
    """The settings a teacher prepares (minus those the link hides)."""
    sb = st.sidebar
    if not hidden("preset"):
        tr = translator(lang())  # bound now: format_func is also called outside the script run (AppTest)
        sb.selectbox(t("lab.labels.preset"), PRESET_CHOICES, key="w_preset", on_change=_apply_preset,
                     format_func=lambda name: tr(f"lab.presets.{name}"), help=t("lab.help.preset"),
                     persist_state=PERSIST)
    for name in ("width", "epochs"):
        if not hidden(name):
            _slider(sb, name)
    if hidden("advanced"):
        return
    # Lazy: the dozen controls inside are only drawn (and sent) while it is open. Drawn closed,
    # they cost a new page ~0.4 s of the browser's time before the first chart (ui_bench). Their
    # values live on in session_state meanwhile (PERSIST), so a run's settings stay.
    advanced = sb.expander(t("lab.advanced"), key="lab_advanced", on_change="rerun")
    if not advanced.open:
        return
    with advanced:
        _slider(st, "depth")
        _number(st, "lr", "%.5g")
        _select(st, "optimizer")
        _number(st, "weight_decay", "%.5g")
        _slider(st, "n_points")
        _slider(st, "noise")
        _select(st, "dataset")
        _number(st, "seed", "%d")
        _select(st, "variant")
        if cuda_available():
            _select(st, "device")
        _slider(st, "snapshot_every")
        _slider(st, "mc_samples")


def _slider(where, name: str) -> None:
    """The field's widget: a slider over its whole range in its `step`, or over its `options`
    (config.LIMITS), so any valid link fits on it."""
    limit, kind = LIMITS[name], type(getattr(DEFAULTS, name))
    common = dict(key=KEY(name), help=t(f"lab.help.{name}"), on_change=_mark_custom, persist_state=PERSIST)
    if limit.options:
        where.select_slider(t(f"lab.labels.{name}"), options=slider_options(name), format_func=_thousands, **common)
        return
    hi = P_MAX if name == "p" else limit.hi
    where.slider(t(f"lab.labels.{name}"), kind(limit.lo), kind(hi), step=kind(limit.step or 1), **common)


def slider_options(name: str) -> list:
    """The stops of an `options` slider, plus the value it holds now if that is between them."""
    options, kind = list(LIMITS[name].options), type(getattr(DEFAULTS, name))
    current = st.session_state.get(KEY(name))
    if isinstance(current, (int, float)) and not isinstance(current, bool) and kind(current) not in options:
        options = sorted(options + [kind(current)])
    return options


def _thousands(value) -> str:
    return f"{value:,}"


def _number(where, name: str, fmt: str) -> None:
    limit, kind = LIMITS[name], type(getattr(DEFAULTS, name))
    where.number_input(t(f"lab.labels.{name}"), kind(limit.lo), kind(limit.hi), key=KEY(name), format=fmt,
                       help=t(f"lab.help.{name}"), on_change=_mark_custom, persist_state=PERSIST)


def _select(where, name: str) -> None:
    """A choice field, its values shown in the page's language (lab.options.<field>.<value>)."""
    tr: Callable = translator(lang())
    where.selectbox(t(f"lab.labels.{name}"), LIMITS[name].choices, key=KEY(name), help=t(f"lab.help.{name}"),
                    format_func=lambda value: tr(f"lab.options.{name}.{value}"), on_change=_mark_custom,
                    persist_state=PERSIST)


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
