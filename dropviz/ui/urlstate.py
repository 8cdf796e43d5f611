"""URL-backed widget state for the lesson pages: every setting in the link, untrusted input clamped.

A page declares its settings as `Param`s; `load` puts ?name=value (clamped) into the widgets on
the page's first run in a session, `sync` writes them back into the address bar. Widget keys are
"<page>_<name>", so pages never share state by accident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import streamlit as st

from ..config import LabConfig, to_query
from .common import classroom_query


@dataclass(frozen=True)
class Param:
    """One URL-backed setting: a default, and a numeric range or a list of choices."""

    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()

    def clamp(self, raw: Any) -> tuple[Any, bool]:
        """A valid value from untrusted `raw`, and whether it had to change."""
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else self.default
        if self.choices:
            value = str(raw).strip().lower()
            return (value, False) if value in self.choices else (self.default, True)
        kind = type(self.default)
        try:
            number = float(raw)
        except (TypeError, ValueError, OverflowError):
            return self.default, True
        if math.isnan(number):
            return self.default, True
        if kind is bool:
            return number != 0, number not in (0, 1)
        fixed = min(max(number, self.lo), self.hi)
        fixed = int(round(fixed)) if kind is int else float(fixed)
        return fixed, fixed != number


def key(page: str, name: str) -> str:
    return f"{page}_{name}"


REGISTRY = "_kept_widget_keys"  # every widget key whose value must outlive a visit to another page


def remember(keys: list[str]) -> None:
    """Keep these widgets' values while their page is not shown (see `keep_all`)."""
    st.session_state.setdefault(REGISTRY, set()).update(keys)


SHADOW = "_kept_widget_values"  # the last value seen of each kept widget, under a key no widget owns


def keep_all() -> None:
    """Call at the top of every run. Streamlit drops a widget's value when a run does not draw it
    (another page, or the lab's closed "Advanced" expander), and may then show an older value
    under its key. So remember every value seen here, and set each one again as our own value,
    which outlives runs that do not draw its widget (Streamlit's documented way to keep them).
    A value still there is only remembered, not set again: setting it would push it back to its
    widget and undo key presses made while this run was on its way (p moved by 30 presses, 0.72)."""
    shadow = st.session_state.setdefault(SHADOW, {})
    for k in st.session_state.get(REGISTRY, ()):
        if k in st.session_state:
            shadow[k] = st.session_state[k]
        elif k in shadow:
            st.session_state[k] = shadow[k]


def load(page: str, params: dict[str, Param]) -> list[str]:
    """On the page's first run in this session: widgets ← URL. Returns the names that were changed."""
    flag = f"{page}__loaded"
    if flag not in st.session_state:
        remember([key(page, name) for name in params])
        changed = []
        for name, param in params.items():
            raw = st.query_params.get_all(name)
            value, was_changed = param.clamp(raw) if raw else (param.default, False)
            st.session_state[key(page, name)] = value
            if was_changed:
                changed.append(name)
        st.session_state[flag] = changed
    return st.session_state[flag]


def values(page: str, params: dict[str, Param]) -> dict[str, Any]:
    """The current (clamped) values of the page's settings."""
    return {name: p.clamp(st.session_state.get(key(page, name), p.default))[0] for name, p in params.items()}


def sync(page: str, params: dict[str, Param], lab: LabConfig | None = None) -> None:
    """Address bar ← settings that differ from their defaults, the lab settings the page uses (if
    any, so a shared link trains the same model), and the language and classroom flags."""
    current = values(page, params)
    mine = {n: _fmt(v) for n, v in current.items() if v != params[n].default}
    write_query({**(to_query(lab) if lab is not None else {}), **mine, **classroom_query()})


def write_query(wanted: dict[str, str]) -> None:
    """Set the address bar's query to `wanted`, only when it differs (every write is a message)."""
    if {k: st.query_params.get_all(k) for k in st.query_params} != {k: [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)
