"""Hostile input: random URL parameters always become a valid config and a visible notice.

Two layers: `config.clamp` under many random query dicts (fast, hundreds of examples), and the
whole page under AppTest for a few hostile links (slow, so only a handful of examples).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dropviz.config import DEFAULTS, PRESETS, SCHEMA, LabConfig, Notice, clamp
from dropviz.i18n import translator

english = translator("en")

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FIELDS = sorted(SCHEMA)

# --- what an attacker (or a mangled link) puts in a query string ---------------------------------
special_strings = st.sampled_from([
    "", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "+inf", "1e400", "-1e400", "1e-400",
    "0x10", "1_000", "1,5", "١٢", "½", "∞", "𝟙𝟚", "None", "null", "true", "[]", "{}", "%00", "\x00",
    "<script>alert(1)</script>", "'; DROP TABLE runs; --", "../../etc/passwd", "🎲" * 50, "9" * 400,
    "-0", "0.99", "0.999999", "1", "1.0", "0.5", "2000", "20001", "-1", "3.5", "sgd ", " ADAM",
    "source", "SINE", "vanilla", "cuda", "cpu", "auto",
])
numbers_as_text = st.one_of(
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
text_values = st.one_of(special_strings, numbers_as_text, st.text(max_size=30))
raw_values = st.one_of(  # form input or a caller that did not stringify
    st.integers(), st.floats(), st.booleans(), st.none(), st.integers(min_value=10**300, max_value=10**400),
)
single = st.one_of(text_values, raw_values)
values = st.one_of(single, st.lists(text_values, max_size=4))  # a list: the key was repeated
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12),
                 st.sampled_from(["P", "preset", "lang", "__class__", "width ", "p[]"]))
queries = st.dictionaries(keys, values, max_size=16)


def assert_valid(config: LabConfig) -> None:
    """Every field in range and of the right type; rebuilding it runs the dataclass's own checks."""
    assert isinstance(config, LabConfig)
    assert LabConfig(**config.to_dict()) == config
    for name, value in config.to_dict().items():
        s = SCHEMA[name]
        if s.choices:
            assert value in s.choices, name
            continue
        assert type(value) is s.kind, name
        assert math.isfinite(value) and (s.lo <= value <= s.hi or value == s.off), name


def taken_as_given(name: str, value, result) -> bool:
    """Whether `result` is `value` read literally, so that no notice is owed."""
    if SCHEMA[name].choices:
        return str(value).strip().lower() == result
    try:
        return float(value) == result
    except (TypeError, ValueError, OverflowError):
        return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
@example({"p": ["0.1", "0.2", "nan"], "width": "1e400", "epochs": "-inf", "lr": "", "seed": "9" * 400})
@example({"dataset": "<script>", "variant": "", "optimizer": None, "device": "\x00", "noise": "∞"})
@example({"p": "1", "mc_samples": "1.5", "depth": "0", "n_points": True, "weight_decay": "-0"})
@example({"epochs": 10**400, "width": float("nan"), "lr": float("inf"), "p": -1e308})
def test_clamp_always_gives_a_valid_config_and_a_notice_per_changed_field(raw):
    config, notices = clamp(raw)
    assert_valid(config)
    assert isinstance(notices, list) and all(isinstance(n, Notice) and n.text(english) for n in notices)
    noticed = {n.name for n in notices}
    assert noticed <= set(SCHEMA), "a notice names a field that does not exist"
    for name, value in raw.items():
        if name not in SCHEMA:
            continue
        if isinstance(value, list):
            if not value:
                assert getattr(config, name) == getattr(DEFAULTS, name)
                continue
            if len(value) > 1:
                assert name in noticed, f"repeated {name} without a notice"
            value = value[-1]
        if name not in noticed:  # silence is only allowed when the value was used as given
            assert taken_as_given(name, value, getattr(config, name)), (name, value, notices)
    # Unknown keys change nothing.
    known = {k: v for k, v in raw.items() if k in SCHEMA}
    assert clamp(known) == (config, notices)


@settings(max_examples=200, deadline=None)
@given(queries)
def test_clamping_is_idempotent(raw):
    """What clamp gives back is accepted as it is: a shared link never shows a second warning."""
    config, _ = clamp(raw)
    again, notices = clamp({k: str(v) if not isinstance(v, str) else v for k, v in config.to_dict().items()})
    assert again == config and notices == []


def test_notices_stay_short_and_do_not_echo_huge_values():
    _, notices = clamp({"dataset": "🎲" * 10_000, "p": "9" * 10_000, "width": ["x"] * 1000})
    assert notices and all(len(n.text(english)) < 300 for n in notices)


# --- the page under AppTest ----------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def stop_jobs_afterwards():
    yield
    from dropviz.ui.common import reset_runner
    reset_runner()  # its jobs stopped, and a fresh runner for the next module (not a stopped one)


def stop_all_jobs() -> None:
    """Hostile links can ask for big runs: stop them between examples so the suite stays fast."""
    from dropviz.ui.page import get_runner
    runner = get_runner()
    for viewer in list(runner._by_viewer):
        runner.leave(viewer)


url_values = st.one_of(text_values, st.lists(text_values, min_size=2, max_size=3))
url_queries = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), url_values,
                              min_size=1, max_size=8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url_queries)
@example({"p": "banana", "width": "-5", "epochs": "nan", "lr": "1e9", "noise": "∞", "dataset": "<script>"})
@example({"p": ["0.1", "0.9"], "seed": "9" * 400, "epochs": "1e400", "variant": "%00"})
@example({"width": "1024", "depth": "6", "epochs": "20000", "n_points": "500"})  # over budget
@example({"🎲": "🎲", "": "", "preset": "../../etc/passwd"})  # nothing known: no warning owed
@example({"mc_samples": "200", "snapshot_every": "1000"})  # valid settings at the top of their range
def test_hostile_links_show_a_warning_never_a_traceback(query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    try:
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        failed = [e.value for e in at.error if "unexpected problem" in e.value]
        assert not failed, f"the page failed to draw for {query}"  # the app's guard caught an exception
        _, notices = clamp(query)
        warnings = " ".join(w.value for w in at.warning)
        if notices:
            assert "not valid" in warnings or "changed" in warnings, warnings
            for field in {n.name for n in notices}:
                assert f"{field}:" in warnings, (field, warnings)
        # Whatever was asked, the widgets hold a valid config.
        shown = {name: at.session_state[f"w_{name}"] for name in SCHEMA if f"w_{name}" in at.session_state}
        assert shown, "the page did not put the settings into its widgets"
        assert_valid(clamp(shown)[0])
        assert clamp(shown)[1] == []
    finally:
        stop_all_jobs()


# --- a notice shows the link's text as text, in the page's language ----------------------------------
def code_spans(markdown: str) -> tuple[list[str], str]:
    """CommonMark's inline code spans of `markdown` (their text as shown), and the text outside them:
    a span opens with a run of n backticks and closes at the next run of exactly n; a space on both
    sides of its text is one the fence needed."""
    spans, outside, at = [], [], 0
    for opening in re.finditer(r"(?<!`)`+(?!`)", markdown):
        if opening.start() < at:
            continue
        close = re.compile(r"(?<!`)" + "`" * len(opening.group()) + r"(?!`)").search(markdown, opening.end())
        if not close:
            continue
        outside.append(markdown[at:opening.start()])
        text = markdown[opening.end():close.start()]
        spans.append(text[1:-1] if len(text) > 2 and text[0] == text[-1] == " " else text)
        at = close.end()
    return spans, "".join(outside) + markdown[at:]


@pytest.mark.parametrize("text", ["plain", "a`b", "``", "`edge`", "x\ny\n\n- item", "' '", "[a](b) **c** $d$ :red[e]"])
def test_literal_is_a_code_span_that_shows_the_text_as_typed(text):
    from dropviz.ui.urlstate import literal

    spans, outside = code_spans(literal(text))
    assert spans == [" ".join(text.splitlines())] and outside == ""
    assert "\n" not in literal(text)  # one paragraph: nothing after it is read as a new block


MARKUP = {  # what a link can carry that markdown (and Streamlit's additions to it) would act on
    "dataset": "[click](http://evil.example)",
    "p": "**bold**<img src=x onerror=alert(1)>",
    "width": "![tracker](http://evil.example/t.png)",
    "lr": ":red[red] :material/warning: $x^2$",
    "noise": "`tick`` and ``` fences",
    "epochs": "1\n\n# heading\n- item",
    "preset": "<script>alert(1)</script>",
}


def test_a_link_s_markup_reaches_the_page_as_code_not_markup():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(MARKUP)
    try:
        at.run()
        assert not at.exception
        (warning,) = [w.value for w in at.warning if "not valid" in w.value]
        spans, outside = code_spans(warning)
        for field, value in MARKUP.items():  # each value shown whole, as Python writes it (repr), inside code
            assert any(span == repr(value.strip().lower() if field == "preset" else value) for span in spans), field
            assert f"{field}: " in outside
        # Outside code: the page's own sentences and the setting names, nothing a link wrote.
        assert not set(outside) & set("[]()<>*$`!#"), outside
        assert "evil" not in outside and "alert" not in outside and ":red" not in outside
    finally:
        stop_all_jobs()


def test_notices_are_said_in_the_page_s_language_and_follow_a_switch():
    from streamlit.testing.v1 import AppTest
    from dropviz.i18n import catalog

    zh, en = catalog("zh"), catalog("en")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"lang": "zh", "p": "banana", "width": "5000", "mc_samples": "1", "seed": ["1", "2"],
                            "preset": "nope"})
    try:
        at.run()
        assert not at.exception
        (warning,) = at.warning
        expected = {"p": zh["notices.not_a_number"], "width": zh["notices.outside"],
                    "mc_samples": zh["notices.outside_or_off"], "seed": zh["notices.repeated"],
                    "preset": zh["notices.not_a_preset"]}
        assert warning.value.startswith(zh["lab.url_warning"])
        for name, template in expected.items():  # the sentence's own words, around its fields
            words = [w for w in re.split(r"{\w+}", template.replace("{name}", name)) if w.strip()]
            assert all(w in warning.value for w in words), (name, words, warning.value)
        assert "not a number" not in warning.value and "outside" not in warning.value
        at.selectbox(key="lang").set_value("en").run()  # the same notices, now in English
        (warning,) = at.warning
        assert warning.value.startswith(en["lab.url_warning"])
        assert "p: `'banana'` is not a number; using `0.5`" in warning.value
        assert "width: `'5000'` is outside 1 ≤ value ≤ 1024; using `1024`" in warning.value
        assert "mc_samples: `'1'` is outside 0 (off) or 2 ≤ value ≤ 200; using `2`" in warning.value
        assert "seed: given 2 times, used the last value" in warning.value
        names = ", ".join(PRESETS)  # every preset the link could have named
        assert f"preset: `'nope'` is not one of {names}; using the default settings" in warning.value
    finally:
        stop_all_jobs()
