"""URL-backed widget state for the lesson pages: every setting in the link, untrusted input clamped.

A page declares its settings with config.Setting, as the lab's fields are declared (a default and
a range, or choices), through `config.declare`; its URL keys are the names it declares. `load` puts
?name=value into the widgets on the page's first run in a session, read by the same parser as the
lab's link (config.clamp_all → Setting.clamp); `sync` writes them back into the address bar. Widget
keys are "<page>_<name>", so pages never share state by accident.

What a link's values needed changing is kept as config.Notice (a sentence's key and its parts),
said in the page's language on every run by `notice_text`, the link's own text shown as code:
a link is untrusted, and nothing in it may reach the page as markup.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Mapping

import streamlit as st

from ..config import LabConfig, Notice, Setting, clamp_all, to_query
from .common import classroom_query, t


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


def load(page: str, params: Mapping[str, Setting]) -> list[str]:
    """On the page's first run in this session: widgets ← URL. Returns, on every run, what had to
    be changed, a sentence a setting in the page's language (see `notice_text`)."""
    flag = f"{page}__loaded"
    if flag not in st.session_state:
        remember([key(page, name) for name in params])
        query = {k: v for k in st.query_params if (v := st.query_params.get_all(k))}
        found, notices = clamp_all(params, query, {name: s.default for name, s in params.items()})
        for name, value in found.items():
            st.session_state[key(page, name)] = value
        st.session_state[flag] = notices
    return [notice_text(notice) for notice in st.session_state[flag]]


def notice_text(notice: Notice) -> str:
    """A notice in the page's language, as markdown: what the link said as a code span (its text
    as typed, never a link, an image, bold, :red[…], $…$ or HTML), the setting's name as it is."""
    fields = {**notice.fields, "value": literal(notice.fields.get("value", ""))}
    if "used" in fields:
        fields["used"] = literal(fields["used"])
    return replace(notice, fields=fields).text(t)


def literal(text: str) -> str:
    """`text` as a markdown code span that shows it exactly: fenced by more backticks than any run
    inside it, on one line (a code span cannot cross a paragraph, and markup after it would count)."""
    text = " ".join(str(text).splitlines())
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" else ""  # a backtick next to the fence would join it
    return f"{fence}{pad}{text}{pad}{fence}"


def values(page: str, params: Mapping[str, Setting]) -> dict[str, Any]:
    """The current (clamped) values of the page's settings."""
    return {name: s.clamp(st.session_state.get(key(page, name), s.default), s.default)[0] for name, s in params.items()}


def sync(page: str, params: Mapping[str, Setting], lab: LabConfig | None = None) -> None:
    """Address bar ← settings that differ from their defaults, the lab settings the page uses (if
    any, so a shared link trains the same model), and the language and classroom flags."""
    mine = {params[n].url: params[n].format(v) for n, v in values(page, params).items() if v != params[n].default}
    write_query({**(to_query(lab) if lab is not None else {}), **mine, **classroom_query()})


def write_query(wanted: dict[str, str]) -> None:
    """Set the address bar's query to `wanted`, only when it differs (every write is a message)."""
    if {k: st.query_params.get_all(k) for k in st.query_params} != {k: [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)
