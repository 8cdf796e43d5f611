"""Config: limits, the clamp path for untrusted input, the URL round trip and the presets."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dropviz.config import (DATASETS_2D, DEFAULTS, NOISE_MAX_2D, P_MAX, PRESETS, SCHEMA, ConfigError, LabConfig,
                            Notice, clamp, from_query, preset, to_query)
from dropviz.i18n import translator

english = translator("en")


def said(notices: list[Notice]) -> list[str]:
    """The notices as an English page says them (the UI shows the link's text as code, see test_hostile_input)."""
    return [n.text(english) for n in notices]

NUMERIC = [name for name, s in SCHEMA.items() if not s.choices]
CHOICES = [name for name, s in SCHEMA.items() if s.choices]


def assert_valid(config: LabConfig) -> None:
    """Re-runs every check: a config that slipped past validation fails here."""
    assert isinstance(config, LabConfig)
    LabConfig(**config.to_dict())
    for name, value in config.to_dict().items():
        s = SCHEMA[name]
        if s.choices:
            assert value in s.choices
        else:
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
            assert math.isfinite(value) and (s.lo <= value <= s.hi or value == s.off)


def below(name: str):
    """The nearest value under the field's lower bound, of the field's type (mc_samples: 1, between off and on)."""
    lo = SCHEMA[name].lo
    return lo - 1 if SCHEMA[name].kind is int else math.nextafter(lo, -math.inf)


def above(name: str):
    """The nearest value over the field's upper bound."""
    s = SCHEMA[name]
    return s.hi + 1 if s.kind is int else math.nextafter(s.hi, math.inf)


# --- defaults and limits ------------------------------------------------------------------------

def test_defaults_are_valid_and_every_field_has_a_limit():
    assert_valid(DEFAULTS)
    assert DEFAULTS == LabConfig()
    assert list(SCHEMA) == [f.name for f in dataclasses.fields(LabConfig)]
    assert all(s.help for s in SCHEMA.values())
    assert DEFAULTS.ps == (0.0, DEFAULTS.p)  # the baseline is always p = 0 and comes first


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.p = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("name", NUMERIC)
def test_bounds_themselves_are_accepted(name):
    s = SCHEMA[name]
    for value in (s.lo, s.hi) + (() if s.off is None else (s.off,)):
        assert getattr(LabConfig(**{name: s.kind(value)}), name) == value


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("side", [below, above])
def test_out_of_range_names_field_and_range(name, side):
    value = side(name)
    with pytest.raises(ConfigError) as err:
        LabConfig(**{name: value})
    message = str(err.value)
    assert message.startswith(f"{name}=")
    assert SCHEMA[name].describe() in message


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", ["3", None, True, [1], 1 + 2j])
def test_wrong_type_is_rejected(name, value):
    with pytest.raises(ConfigError, match=f"^{name}=") as err:
        LabConfig(**{name: value})
    assert SCHEMA[name].describe() in str(err.value)


@pytest.mark.parametrize("name", [n for n in NUMERIC if SCHEMA[n].kind is int])
def test_int_fields_reject_floats_and_huge_ints(name):
    with pytest.raises(ConfigError, match=f"^{name}=.*whole number"):
        LabConfig(**{name: float(SCHEMA[name].lo)})
    with pytest.raises(ConfigError, match=f"^{name}="):
        LabConfig(**{name: 10**400})  # too big for a float: must still be a ConfigError


@pytest.mark.parametrize("name", [n for n in NUMERIC if SCHEMA[n].kind is float])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_fields_reject_nan_and_inf(name, value):
    with pytest.raises(ConfigError, match=f"^{name}=") as err:
        LabConfig(**{name: value})
    assert SCHEMA[name].describe() in str(err.value)


@pytest.mark.parametrize("name", CHOICES)
@pytest.mark.parametrize("value", ["nope", "", None, 3, "SGD  "])
def test_choice_fields_reject_unknown_names(name, value):
    with pytest.raises(ConfigError, match=f"^{name}=") as err:
        LabConfig(**{name: value})
    assert "one of " + ", ".join(SCHEMA[name].choices) in str(err.value)


def test_p_is_a_drop_probability_up_to_its_one_limit():
    assert SCHEMA["p"].hi == P_MAX == 0.99
    with pytest.raises(ConfigError, match=r"^p=1\.0: must be 0 ≤ value ≤ 0\.99$"):
        LabConfig(p=1.0)
    with pytest.raises(ConfigError, match=r"^p=0\.995: must be 0 ≤ value ≤ 0\.99$"):
        LabConfig(p=0.995)
    assert LabConfig(p=P_MAX).p == 0.99
    assert LabConfig(p=0.0).ps == (0.0, 0.0)
    assert "DROPPING" in SCHEMA["p"].help  # the meaning is spelled out: drop, not keep


def test_mc_samples_is_off_or_at_least_two():
    """One mask has no spread (its std is NaN), so no band: 0 is off, and on means 2 to 200."""
    assert SCHEMA["mc_samples"].describe() == "0 (off) or 2 ≤ value ≤ 200"
    assert LabConfig(mc_samples=0).mc_samples == 0 and LabConfig(mc_samples=2).mc_samples == 2
    with pytest.raises(ConfigError, match=r"^mc_samples=1: must be 0 \(off\) or 2 ≤ value ≤ 200$"):
        LabConfig(mc_samples=1)
    for raw, expected in [("1", 2), ("0.4", 0), ("0.6", 2), ("1.5", 2), ("-5", 0), ("2", 2), ("0", 0)]:
        config, notices = clamp({"mc_samples": raw})
        assert config.mc_samples == expected, raw
        assert bool(notices) == (float(raw) != expected), raw


def test_with_validates():
    assert DEFAULTS.with_(width=7).width == 7
    with pytest.raises(ConfigError, match="^depth="):
        DEFAULTS.with_(depth=7)


# --- clamp: untrusted input becomes a valid config plus notices ----------------------------------

HOSTILE = [
    # (raw value, field, expected value; None = falls back to the default)
    ("p", "abc", None),
    ("p", "nan", None),
    ("p", math.nan, None),
    ("p", "inf", 0.99),
    ("p", "1", 0.99),
    ("p", 1e308 * 10, 0.99),
    ("p", "-0.5", 0.0),
    ("width", "1e9", 1024),
    ("width", "-5", 1),
    ("width", "12.6", 13),
    ("width", "🙂", None),
    ("width", "", None),
    ("width", None, None),
    ("width", {"a": 1}, None),
    ("depth", "-inf", 1),
    ("epochs", "9" * 400, 20_000),
    ("lr", "1e-9", 1e-5),
    ("lr", "0x10", None),
    ("noise", "-1e-300", 0.0),
    ("seed", "99999999999999999999999", 2**31 - 1),
    ("seed", 10**400, None),
    ("seed", -3, 0),
    ("dataset", "sïne", None),
    ("dataset", "../../etc/passwd", None),
    ("optimizer", ["sgd", "rmsprop"], None),  # repeated key: the last one wins, and it is bad
    ("device", "tpu", None),
    ("variant", 3, None),
]


@pytest.mark.parametrize("name,value,expected", HOSTILE)
def test_clamp_fixes_hostile_values_with_a_notice(name, value, expected):
    config, notices = clamp({name: value})
    assert_valid(config)
    assert getattr(config, name) == (getattr(DEFAULTS, name) if expected is None else expected)
    assert notices and all(n.name == name for n in notices)
    assert all(text.startswith(f"{name}: ") for text in said(notices))
    # every other field is untouched
    assert config.to_dict() | {name: getattr(DEFAULTS, name)} == DEFAULTS.to_dict()


def test_clamp_gives_one_notice_per_changed_field():
    raw = {"p": "2", "width": "zero", "lr": "-1", "dataset": "mnist", "seed": "nan", "depth": "3"}
    config, notices = clamp(raw)
    assert_valid(config)
    assert sorted(n.name for n in notices) == ["dataset", "lr", "p", "seed", "width"]
    assert config.depth == 3


def test_clamp_keeps_good_values_without_notices():
    raw = {"p": "0.25", "width": "64", "optimizer": " Adam ", "dataset": "sine", "lr": "0.003"}
    config, notices = clamp(raw)
    assert notices == []
    assert (config.p, config.width, config.optimizer, config.dataset, config.lr) == (0.25, 64, "adam", "sine", 0.003)


def test_clamp_repeated_keys_use_the_last_value():
    config, notices = clamp({"width": ["10", "20"], "depth": []})
    assert config.width == 20 and config.depth == DEFAULTS.depth
    assert said(notices) == ["width: given 2 times, used the last value"]


def test_clamp_ignores_unknown_keys():
    config, notices = clamp({"foo": "bar", "__class__": "x", "P": "0.1", "": ""})
    assert config == DEFAULTS and notices == []


def test_clamp_falls_back_to_the_given_base():
    base = preset("classroom")
    config, notices = clamp({"noise": "lots", "width": "32"}, base)
    assert config == base.with_(width=32)
    assert said(notices) == ["noise: 'lots' is not a number; using 1.0"]


def test_clamp_brings_p_past_its_limit_down_to_it_and_says_so():
    assert clamp({"p": "0.99"}) == (DEFAULTS.with_(p=P_MAX), [])
    config, notices = clamp({"p": "0.995"})
    assert config.p == P_MAX and said(notices) == ["p: '0.995' is outside 0 ≤ value ≤ 0.99; using 0.99"]


def test_a_2d_link_with_noise_past_playgrounds_range_is_clamped_to_it_and_says_so():
    config, notices = clamp({"dataset": "spiral", "noise": "2"})
    assert (config.dataset, config.noise, config.task) == ("spiral", NOISE_MAX_2D, "classification")
    assert said(notices) == ["noise: '2' is more than 0.5, the most a 2-D dataset (spiral) takes; using 0.5"]
    zh = [n.text(translator("zh")) for n in notices]
    assert "0.5" in zh[0] and "spiral" in zh[0] and "'2'" in zh[0]
    # The noise came from the base (Classroom's 1.0), not the link: still clamped, and said.
    config, notices = clamp({"dataset": "moons"}, preset("classroom"))
    assert config.noise == NOISE_MAX_2D and [n.key for n in notices] == ["outside_2d"]
    # Within the range, or a 1-D dataset: nothing to say.
    assert clamp({"dataset": "xor", "noise": "0.5"}) == (DEFAULTS.with_(dataset="xor", noise=0.5), [])
    assert clamp({"dataset": "sine", "noise": "2"}) == (DEFAULTS.with_(dataset="sine", noise=2.0), [])


def test_a_2d_config_with_noise_past_playgrounds_range_is_an_error_not_a_guess():
    with pytest.raises(ConfigError, match=r"^noise=0\.6: must be 0 ≤ value ≤ 0\.5 for the 2-D dataset circle"):
        LabConfig(dataset="circle", noise=0.6)
    assert LabConfig(dataset="circle", noise=0.5).task == "classification"
    assert LabConfig(dataset="linear", noise=3.0).task == "regression"


def test_the_2d_settings_round_trip_through_a_link():
    config = DEFAULTS.with_(dataset="moons", n_points=200, noise=0.25, ratio=30, batch_size=10, l1=0.003)
    query = to_query(config)
    assert query == {"dataset": "moons", "n_points": "200", "noise": "0.25", "ratio": "30", "batch_size": "10",
                     "l1": "0.003"}
    assert from_query(query) == (config, [])
    config, notices = clamp({"ratio": "95", "batch_size": "-3", "l1": "5"})
    assert (config.ratio, config.batch_size, config.l1) == (90, 0, 1.0)
    assert sorted(n.name for n in notices) == ["batch_size", "l1", "ratio"]
    assert (DEFAULTS.ratio, DEFAULTS.batch_size, DEFAULTS.l1) == (50, 0, 0.0)  # Playground's 50 %, full batch, no L1


def test_long_values_are_shortened_in_notices():
    _, notices = clamp({"dataset": "x" * 10_000})
    assert len(notices) == 1 and len(said(notices)[0]) < 200


hostile_values = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**30, max_value=10**30),
    st.integers().map(lambda i: 10**400 * i),
    st.none(), st.booleans(),
    st.sampled_from(["nan", "inf", "-inf", "1e999", " 5 ", "0.99999", "١٢", "sgd", "cuda", "sine"]),
    st.lists(st.text(max_size=10), max_size=3),
    st.lists(st.floats(), max_size=3),
)
keys = st.one_of(st.sampled_from(list(SCHEMA)), st.text(max_size=8))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, hostile_values, max_size=12))
def test_clamp_never_raises_and_always_returns_a_valid_config(raw):
    config, notices = clamp(raw)
    assert_valid(config)
    assert isinstance(notices, list) and all(isinstance(n, Notice) for n in notices)
    for name in SCHEMA:  # a field that changed from the default got a notice, or came in valid
        if getattr(config, name) != getattr(DEFAULTS, name):
            assert name in raw


# --- the URL round trip ----------------------------------------------------------------------------

def field_strategy(name: str):
    s = SCHEMA[name]
    if s.choices:
        return st.sampled_from(s.choices)
    span = st.integers(int(s.lo), int(s.hi)) if s.kind is int else st.floats(s.lo, s.hi, allow_nan=False)
    return span if s.off is None else st.one_of(st.just(s.kind(s.off)), span)


@st.composite
def lab_configs(draw) -> LabConfig:
    """Any valid config: every field in its range, and a 2-D dataset's noise within Playground's 0-0.5."""
    values = {name: draw(field_strategy(name)) for name in SCHEMA}
    if values["dataset"] in DATASETS_2D:
        values["noise"] = draw(st.floats(0.0, NOISE_MAX_2D, allow_nan=False))
    return LabConfig(**values)


configs = lab_configs()


@settings(max_examples=300, deadline=None)
@given(configs)
@example(LabConfig(p=P_MAX, lr=1e-5, noise=0.1 + 0.2, seed=2**31 - 1, mc_samples=2))
def test_query_round_trip_is_exact(config):
    query = to_query(config)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    back, notices = from_query(query)
    assert notices == []
    assert back == config
    assert repr(back) == repr(config)  # exact to the last digit, not just equal


@settings(max_examples=150, deadline=None)
@given(configs, configs)
def test_query_round_trip_against_any_base(config, base):
    back, notices = from_query(to_query(config, base), base)
    assert back == config and notices == []


def test_query_is_short_for_defaults():
    assert to_query(DEFAULTS) == {}
    assert to_query(DEFAULTS.with_(p=0.3, width=50)) == {"p": "0.3", "width": "50"}


# --- presets --------------------------------------------------------------------------------------

def test_source_preset_matches_the_source_demo():
    c = preset("source")
    assert c.dataset == "source" and c.n_points == 10 and c.noise == 0.5
    assert (c.width, c.depth) == (200, 3)  # 1-200-200-200-1
    assert (c.optimizer, c.lr, c.weight_decay) == ("sgd", 0.01, 0.0)
    assert c.epochs == 2000
    assert c.ps == (0.0, 0.5)
    assert c.seed == 1


def test_source_preset_has_81001_parameters_per_model():
    from dropviz.model import StackedMLP, to_sequential

    c = preset("source")
    model = StackedMLP(list(c.ps), c.width, c.depth, [c.seed] * 2)
    assert model.n_params == 81_001
    seq = to_sequential(model, 1)
    assert sum(p.numel() for p in seq.parameters()) == 81_001
    assert [m.__class__.__name__ for m in seq] == ["Linear", "ReLU", "Dropout"] * 3 + ["Linear"]
    assert [(m.in_features, m.out_features) for m in seq if hasattr(m, "in_features")] == \
        [(1, 200), (200, 200), (200, 200), (200, 1)]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_take_overrides(name):
    c = preset(name)
    assert_valid(c)
    assert preset(name, p=0.2).p == 0.2
    with pytest.raises(ConfigError, match="^p="):
        preset(name, p=1.0)


def test_classroom_preset_uses_fresh_held_out_points():
    assert preset("classroom").dataset != "source"


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="^preset='nope'"):
        preset("nope")
