"""One settings schema: every consumer (validation, a link, the CLI, the widgets, the lesson pages)
derives from the declarations in dropviz/config.py and reads values with one parser."""

from __future__ import annotations

import argparse
import importlib
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropviz import cli
from dropviz.config import (DEFAULTS, P_MAX, SCHEMA, ConfigError, LabConfig, Setting, clamp, clamp_all, declare,
                            from_query, setting, to_query)
from dropviz.dropout import MASK_BITS, keep_threshold
from dropviz.i18n import LANGS, catalog, translator

english = translator("en")  # notices as an English page says them (tests/test_hostile_input: as code there)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
WIDGETS = ("slider", "stops", "number", "select")


# --- every field declared once, with everything its consumers read ------------------------------------

@pytest.mark.parametrize("name", list(SCHEMA))
def test_each_field_declares_what_every_consumer_needs(name):
    s = SCHEMA[name]
    field = next(f for f in fields(LabConfig) if f.name == name)
    assert s.name == name and field.default == s.default == getattr(DEFAULTS, name)  # the default, once
    assert s.help and "\n" not in s.help  # one line: the CLI's help
    assert s.url == name and s.flag == "--" + name.replace("_", "-")  # the link keys and flags in use today
    assert s.widget in WIDGETS + (None,)
    if s.widget:
        assert s.place in ("bar", "sidebar", "advanced")
        for lang in LANGS:  # label and help in every language, from the declared translation keys
            texts = catalog(lang)
            assert texts[s.translation("labels")] and texts[s.translation("help")], (lang, name)
            assert all(texts[s.translation("options", value)] for value in s.choices), (lang, name)
    if s.widget == "slider":  # its steps land on both ends
        steps = (s.hi - s.lo) / (s.step or 1)
        assert abs(steps - round(steps)) < 1e-9
    if s.widget == "stops":
        assert s.default in s.options and all(s.lo <= o <= s.hi or o == s.off for o in s.options)
    assert (s.widget == "select") == bool(s.choices)


def test_the_schema_is_the_dataclass_in_field_order():
    assert list(SCHEMA) == [f.name for f in fields(LabConfig)]
    assert DEFAULTS == LabConfig()


def test_a_declaration_whose_default_does_not_match_its_type_is_refused():
    @dataclass(frozen=True)
    class Wrong(LabConfig):
        rate: float = setting(1, 0, 2, help="an int default on a float field")

    with pytest.raises(TypeError, match="rate"):
        Wrong()


# --- adding a field to the schema: a flag, a URL key, validation, with no other edit -------------------

@dataclass(frozen=True)
class Wider(LabConfig):
    """The lab's config with one more field, declared the way config.py declares its own."""

    temperature: float = setting(1.0, 0.5, 2.0, help="a made-up setting", url="temp", flag="--temp")


def test_a_new_field_is_validated():
    assert Wider(temperature=1.5).temperature == 1.5
    with pytest.raises(ConfigError, match=r"^temperature=3\.0: must be 0\.5 ≤ value ≤ 2$"):
        Wider(temperature=3.0)


def test_a_new_field_gets_a_cli_flag():
    parser = argparse.ArgumentParser()
    cli.add_config_flags(parser, base=Wider())
    flag = next(a for a in parser._actions if a.dest == "temperature")
    assert flag.option_strings == ["--temp"] and flag.help.startswith("a made-up setting [0.5 ≤ value ≤ 2")
    args = parser.parse_args(["--temp", "1.5", "--p", "0.2"])
    assert cli.config_from_args(args, base=Wider()) == Wider(temperature=1.5, p=0.2)
    with pytest.raises(ConfigError, match="^temperature=9.0"):
        cli.config_from_args(parser.parse_args(["--temp", "9"]), base=Wider())


def test_a_new_field_gets_a_url_key_both_ways():
    assert to_query(Wider(temperature=1.5), Wider()) == {"temp": "1.5"}
    assert from_query({"temp": "1.5"}, Wider()) == (Wider(temperature=1.5), [])
    config, notices = clamp({"temp": "1e999", "temperature": "0.7"}, Wider())  # only its URL key is read
    assert config == Wider(temperature=2.0)
    assert [n.text(english) for n in notices] == ["temperature: '1e999' is outside 0.5 ≤ value ≤ 2; using 2.0"]


# --- one parser: the CLI (strict) and a link (lenient) read every text the same way --------------------

texts = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999", "<b>x</b>", "", " 5 ", "0.99", "0.995", "1", "0",
                     "2.5", "1e3", "SGD", " Adam ", "sine", "cuda", "12", "0x10", "1_000", "١٢", "None", "True"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**25, 10**25).map(str),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(SCHEMA)), texts)
def test_the_cli_accepts_exactly_what_a_link_takes_as_given(name, text):
    s = SCHEMA[name]
    clamped, notice = s.clamp(text, s.default)
    try:
        parsed = s.parse(text)
    except ConfigError as err:  # refused on the command line: a link's value is fixed, and says so
        assert str(err).startswith(f"{name}=") and "\n" not in str(err)
        assert notice.name == name and notice.text(english).startswith(f"{name}: ")
        s.check(clamped)
        return
    assert not notice and (parsed, type(parsed)) == (clamped, type(clamped))  # accepted: taken as given in a link


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, 1e999, 10**400, "<script>alert(1)</script>", None,
                                 True, [1], {"a": 1}, 1 + 2j, np.float64("nan")])
@pytest.mark.parametrize("name", list(SCHEMA))
def test_hostile_values_give_a_valid_value_and_a_notice_in_every_field(name, raw):
    s = SCHEMA[name]
    value, notice = s.clamp(raw, s.default)
    s.check(value)
    assert notice.name == name and notice.text(english).startswith(f"{name}: ") and len(notice.text(english)) < 200
    with pytest.raises(ConfigError, match=f"^{name}="):
        s.parse(raw)


# --- p's one upper limit -----------------------------------------------------------------------------

def realised_multiplier(p: float, bits: int = MASK_BITS) -> float:
    """The expected multiplier of a unit (1 in theory) under the lab's masks with inverted scaling:
    a unit is kept when `bits` random bits, read as a signed integer, reach dropout.keep_threshold
    (scaled down from 32 bits for a narrower draw); p as the models hold it, in float32."""
    p32 = torch.tensor(p, dtype=torch.float32)
    threshold = math.ceil(keep_threshold(p32).item() / 2 ** (MASK_BITS - bits))
    kept = max(2 ** (bits - 1) - threshold, 1) / 2**bits  # the 16-bit masks kept 1 value in 65536 at least
    return kept / float(1 - p32)


def test_p_has_one_upper_limit_that_the_masks_realise():
    assert SCHEMA["p"].hi == P_MAX and SCHEMA["p"].off is None
    assert abs(realised_multiplier(P_MAX) - 1) < 1e-6  # the masks drawn today: exact
    assert max(abs(realised_multiplier(p) - 1) for p in np.linspace(0, P_MAX, 2001)) < 1e-6
    # The 16-bit masks of before realised every p up to the limit within 0.15 %, but 0.999 with -0.8 %
    # and 0.99999 with +52 % (the CLI accepted both): config.P_MAX's comment.
    assert max(abs(realised_multiplier(p, bits=16) - 1) for p in np.linspace(0, P_MAX, 2001)) < 1.6e-3
    assert realised_multiplier(0.999, bits=16) < 0.995 and realised_multiplier(0.99999, bits=16) > 1.5


def test_p_past_its_limit_is_an_error_on_the_command_line_and_clamped_in_a_link(capsys):
    assert cli.main(["run", "--p", "0.995"]) == 2
    assert capsys.readouterr().err.strip() == "dropviz: error: p=0.995: must be 0 ≤ value ≤ 0.99"
    config, notices = clamp({"p": "0.995"})
    assert config.p == P_MAX and [n.text(english) for n in notices] == ["p: '0.995' is outside 0 ≤ value ≤ 0.99; using 0.99"]


# --- the lesson pages: their own settings, the same parser, the URL keys of links already shared ------

LESSON_KEYS = {  # the URL keys these pages had before the schema: links already shared must keep working
    "costs": ["p1", "p2", "target", "bn_p"],
    "droppath": ["p", "seed"],
    "ensemble": ["act", "masks", "mask_seed"],
    "l2": ["drop", "decay"],
    "scaling": ["p", "draws", "variant", "seed"],
    "sweep": ["setting", "p_max", "p_step", "seeds_per_p"],
}


def lesson_params(page: str) -> dict[str, Setting]:
    return importlib.import_module(f"dropviz.ui.lessons.{page}").PARAMS


@pytest.mark.parametrize("page", sorted(LESSON_KEYS))
def test_lesson_pages_keep_their_url_keys_and_declare_settings(page):
    params = lesson_params(page)
    assert list(params) == LESSON_KEYS[page] and [s.url for s in params.values()] == LESSON_KEYS[page]
    assert all(isinstance(s, Setting) and s.name == name for name, s in params.items())
    for s in params.values():
        s.check(s.default)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(LESSON_KEYS)),
       st.dictionaries(st.text(max_size=10), st.one_of(texts, st.lists(texts, max_size=3)), max_size=6), st.data())
def test_lesson_links_are_read_by_the_same_parser(page, noise, data):
    params = lesson_params(page)
    query = {**noise, **data.draw(st.dictionaries(st.sampled_from(LESSON_KEYS[page]), texts, max_size=4))}
    defaults = {name: s.default for name, s in params.items()}
    values, notices = clamp_all(params, query, defaults)
    assert set(values) == set(params)
    noticed = {n.name for n in notices}
    for name, s in params.items():
        s.check(values[name])
        given = query.get(name, [])
        given = given if isinstance(given, list) else [given]
        if not given:
            assert values[name] == s.default and name not in noticed
        elif name not in noticed:  # silence only for one value, used as given
            assert len(given) == 1 and values[name] == s.parse(given[-1])


@pytest.mark.parametrize("page", sorted(LESSON_KEYS))
def test_lesson_settings_declare_their_widgets_and_texts(page):
    """A lesson's widget is declared with its setting, as the lab's are: kind, step or stops, and
    label and help keys (<page>.labels.<name>, <page>.help.<name>) in both languages."""
    for name, s in lesson_params(page).items():
        assert s.text == page and s.widget in WIDGETS + ("radio", None), name
        if s.widget is None:
            continue  # set by the link and the page's own button ("new masks")
        for lang in LANGS:
            texts = catalog(lang)
            assert texts[s.translation("labels")] and texts[s.translation("help")], (lang, name)
            assert all(texts[s.translation("options", value)] for value in s.choices), (lang, name)
        if s.widget == "slider":  # its steps land on both ends
            steps = (s.hi - s.lo) / s.step
            assert abs(steps - round(steps)) < 1e-9, name
        if s.widget == "stops":
            assert s.default in s.options and all(s.lo <= o <= s.hi for o in s.options), name
        assert (s.widget in ("select", "radio")) == bool(s.choices), name


@pytest.mark.parametrize("page", sorted(LESSON_KEYS))
def test_lesson_widgets_are_drawn_from_their_settings(page):
    """Each range is stated once: the widget a lesson page draws has its setting's range, step or stops,
    and its translated label, help and choices (in Chinese here)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(f"from dropviz.ui.lessons.{page} import render\nrender()", default_timeout=60)
    at.query_params.update({"lang": "zh", "width": "8", "epochs": "40", "seeds_per_p": "1", "p_step": "0.3"})
    try:
        at.run()
        assert not at.exception, at.exception
        zh = catalog("zh")
        drawn = {"slider": at.slider, "stops": at.select_slider, "number": at.number_input, "radio": at.radio,
                 "select": at.selectbox}
        for name, s in lesson_params(page).items():
            widgets = [w for kind in drawn.values() for w in kind if w.key == f"{page}_{name}"]
            if s.widget is None:
                assert not widgets, name
                continue
            (w,) = widgets
            assert w in list(drawn[s.widget]), name
            assert (w.label, w.help) == (zh[s.translation("labels")], zh[s.translation("help")]), name
            if s.widget in ("slider", "number"):
                assert (w.min, w.max, w.step) == (s.lo, s.hi, s.step), name
            if s.widget == "stops":
                assert [float(o.replace(",", "")) for o in w.options] == list(s.options), name
            if s.widget in ("radio", "select"):
                assert w.options == [zh[s.translation("options", c)] for c in s.choices], name
    finally:
        from dropviz.ui.common import reset_runner
        reset_runner()


def test_declare_binds_names_keys_and_flags():
    bound = declare({"n_things": Setting(3, 1, 5)}, text="page")
    s = bound["n_things"]
    assert (s.name, s.url, s.flag) == ("n_things", "n_things", "--n-things")
    assert s.translation("labels") == "page.labels.n_things"
    with pytest.raises(TypeError):
        declare({"bad": Setting("x")})  # a name without choices


# --- the lab's widgets are drawn from the schema -------------------------------------------------------

@pytest.fixture(scope="module")
def lab_with_advanced_open():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"epochs": "50", "width": "8"})
    at.run()
    at.session_state["lab_advanced"] = True
    at.run()
    yield at
    from dropviz.ui.common import reset_runner
    reset_runner()  # its jobs stopped, and a fresh runner for the next test (not a stopped one)


def test_every_placed_field_has_its_declared_widget(lab_with_advanced_open):
    at = lab_with_advanced_open
    assert not at.exception
    en = catalog("en")
    from dropviz.devices import cuda_available
    drawn = {"slider": at.slider, "stops": at.select_slider, "number": at.number_input, "select": at.selectbox}
    for name, s in SCHEMA.items():
        widgets = [w for kind in drawn.values() for w in kind if w.key == f"w_{name}"]
        if not s.widget or (name == "device" and not cuda_available()):
            assert not widgets, name
            continue
        assert len(widgets) == 1 and widgets[0] in list(drawn[s.widget]), name
        w = widgets[0]
        assert w.label == en[s.translation("labels")] and w.help == en[s.translation("help")], name
        if s.widget in ("slider", "number"):
            assert (w.min, w.max) == (s.lo, s.hi), name
        if s.widget == "stops":  # the declared stops, and the link's value between them (epochs=50)
            stops = sorted(set(s.options) | {at.session_state[f"w_{name}"]})
            assert [float(o.replace(",", "")) for o in w.options] == stops, name
        if s.widget == "select":
            assert w.options == [en[s.translation("options", c)] for c in s.choices], name


def test_the_p_slider_ends_at_the_one_limit(lab_with_advanced_open):
    p = lab_with_advanced_open.slider(key="w_p")
    assert (p.min, p.max, p.step) == (0.0, P_MAX, SCHEMA["p"].step)
