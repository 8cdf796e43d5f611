"""The lab's controls: widgets in, one LabConfig out, kept in the URL so any view is a shareable link.

Every widget is drawn from its field's declaration in config.py (a Setting: widget kind, range,
step or stops, place, translation keys), so a field declared there appears here with no other edit;
the lesson pages draw theirs with the same `setting_widget`.
The controls a class uses while it watches (p, the run buttons, Copy link) sit in a bar at the top
of the page, above the charts (`top_bar`); the rest in the sidebar (`sidebar`). A widget's value
lives in st.session_state["w_<field>"]; `read_config` turns those values into a LabConfig (through
config.clamp, the parser a link's values go through too), and the page hands it to the runner.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from ..config import (DATASETS_2D, DEFAULTS, NOISE_MAX_2D, PRESETS, SCHEMA, LabConfig, Setting, clamp, preset, to_query,
                      unknown_preset)
from ..devices import cuda_available
from ..i18n import translator
from .common import classroom_query, hidden, lang, t
from . import urlstate

KEY = "w_{}".format  # session-state key of a field's widget
PRESET_CHOICES = (*PRESETS, "custom")
# A preset leaves these alone: how the run is shown, and over how many seeds its verdict is counted
# (the Classroom preset over 5 seeds is still the Classroom preset).
KEPT_BY_PRESETS = ("snapshot_every", "mc_samples", "variant", "device", "n_seeds")
BUTTONS = ("train", "pause", "step", "reset")
# Widget values outlive runs that do not draw them (another page, the closed "Advanced" expander):
# Streamlit keeps them itself. Not urlstate.keep_all, which sets every value again at the top of
# each run: a value set from Python is pushed back to the browser's slider, so ArrowRight presses
# made while a rerun was under way were undone (30 presses in 6 s moved p 0.50 → 0.75, not 0.80).
PERSIST = "session"


def load_url_once() -> list[str]:
    """On a session's first run, put the URL's settings into the widgets. Returns, on every run,
    what had to be changed, in the page's language (urlstate.notice_text: the link's text as code).

    ?preset=<name> starts from that preset; other keys of the link override it.
    """
    if "url_notices" not in st.session_state:
        raw = {k: (v if len(v) > 1 else v[0]) for k in st.query_params
               if (v := st.query_params.get_all(k))}
        name = str(raw.pop("preset", "")).strip().lower()
        config, notices = clamp(raw, base=preset(name) if name in PRESETS else DEFAULTS)
        if name and name not in PRESETS:
            notices.append(unknown_preset(name))
        _set_widgets(config)
        st.session_state.url_notices = notices  # config.Notice, said again in each run's language
        st.session_state.w_preset = _matching_preset(config)
    return [urlstate.notice_text(notice) for notice in st.session_state.url_notices]


def _set_widgets(config: LabConfig) -> None:
    for name, value in config.to_dict().items():
        st.session_state[KEY(name)] = value


def _matching_preset(config: LabConfig) -> str:
    kept = {k: getattr(config, k) for k in KEPT_BY_PRESETS}
    return next((name for name in PRESETS if preset(name, **kept) == config), "custom")


def _apply_preset() -> None:
    name = st.session_state.w_preset
    if name in PRESETS:
        _set_widgets(preset(name, **{k: st.session_state[KEY(k)] for k in KEPT_BY_PRESETS}))


def _mark_custom() -> None:
    st.session_state.w_preset = _matching_preset(read_config())


# Picking a 2-D dataset with the few points of a 1-D preset (Classroom's 20 would leave 10 to train on)
# starts it from the 2-D preset's number of points, as Playground starts from its own; a noise above
# Playground's 0.5 comes down to it, so the slider shows what the run uses.
PLANE_POINTS = PRESETS["boundary"]["n_points"]
FEW_POINTS = 50


def _dataset_changed() -> None:
    if st.session_state[KEY("dataset")] in DATASETS_2D:
        if st.session_state[KEY("n_points")] < FEW_POINTS:
            st.session_state[KEY("n_points")] = PLANE_POINTS
        st.session_state[KEY("noise")] = min(st.session_state[KEY("noise")], NOISE_MAX_2D)
    _mark_custom()


def top_bar():
    """p and the run buttons, above the charts; returns (the button pressed or None, the slot for
    Copy link, filled by the page once it knows the settings). Sticky on a phone (common.LAYOUT_CSS),
    so p can be moved while the fit stays in view."""
    bar = st.container(key="dropviz-controls")
    left, right = bar.columns([4, 7], vertical_alignment="bottom")
    for name in placed("bar"):
        if not hidden(name):
            _widget(left, name)
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
    for name in placed("sidebar"):
        if not hidden(name):
            _widget(sb, name)
    if hidden("advanced"):
        return
    # Lazy: the dozen controls inside are only drawn (and sent) while it is open. Drawn closed,
    # they cost a new page ~0.4 s of the browser's time before the first chart (ui_bench). Their
    # values live on in session_state meanwhile (PERSIST), so a run's settings stay.
    advanced = sb.expander(t("lab.advanced"), key="lab_advanced", on_change="rerun")
    if not advanced.open:
        return
    with advanced:
        for name in placed("advanced"):
            if name != "device" or cuda_available():  # a choice of device only where there is one
                _widget(st, name)


def placed(place: str) -> list[str]:
    """The fields whose widget the schema puts at `place` ("bar", "sidebar", "advanced"), in field order."""
    return [name for name, s in SCHEMA.items() if s.place == place and s.widget]


def _widget(where, name: str) -> None:
    """The lab field's widget as config.py declares it, its value kept for the session."""
    on_change = _dataset_changed if name == "dataset" else _mark_custom
    setting_widget(where, SCHEMA[name], KEY(name), on_change=on_change, persist_state=PERSIST)


def setting_widget(where, s: Setting, key: str, **extra) -> None:
    """A setting's widget as its declaration says (config.Setting), for the lab and the lesson pages:
    a slider over its whole range in its `step`, one that stops at its `options` (so any valid link
    fits on it), a number box, or its choices by their translated names; label and help from its
    translation keys. `key` holds the value; `extra` goes to the widget (on_change, …)."""
    label, kind = t(s.translation("labels")), s.kind
    common = dict(key=key, help=t(s.translation("help")), **extra)
    if s.widget == "stops":
        where.select_slider(label, options=slider_options(s, key), format_func=_thousands, **common)
    elif s.widget == "slider":
        where.slider(label, kind(s.lo), kind(s.hi), step=kind(s.step or 1), **common)
    elif s.widget == "number":
        where.number_input(label, kind(s.lo), kind(s.hi), step=s.step and kind(s.step), format=s.fmt, **common)
    elif s.widget in ("select", "radio"):
        tr: Callable = translator(lang())  # bound now: format_func is also called outside the script run
        named = dict(format_func=lambda value: tr(s.translation("options", value)), **common)
        if s.widget == "select":
            where.selectbox(label, s.choices, **named)
        else:
            where.radio(label, s.choices, horizontal=True, **named)
    else:
        raise ValueError(f"{s.name}: no widget of kind {s.widget!r}")


def slider_options(s: Setting, key: str) -> list:
    """The stops of an `options` slider, plus the value it holds now (st.session_state[key]) if that
    is between them."""
    options, kind = list(s.options), s.kind
    current = st.session_state.get(key)
    if isinstance(current, (int, float)) and not isinstance(current, bool) and kind(current) not in options:
        options = sorted(options + [kind(current)])
    return options


def _thousands(value) -> str:
    """2,000 iterations; 0 and 0.003 for a penalty's stops (not 0.0)."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def read_config() -> LabConfig:
    """The config the widgets show (clamped, so it is always valid)."""
    raw = {s.url: st.session_state.get(KEY(name), getattr(DEFAULTS, name)) for name, s in SCHEMA.items()}
    return clamp(raw)[0]


def page_query(config: LabConfig) -> dict[str, str]:
    """The lab's URL: settings that differ from the defaults, plus language and classroom flags."""
    return {**to_query(config), **classroom_query()}


def sync_url(config: LabConfig) -> None:
    """Write the settings into the address bar."""
    urlstate.write_query(page_query(config))
