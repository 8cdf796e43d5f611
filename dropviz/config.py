"""Every setting of a run, declared once: the schema that validation, the URL, the CLI and the widgets read.

Each LabConfig field is declared by `setting(...)`: its type (the annotation), default, range or
choices, one-line help, URL key, CLI flag, widget and translation key. Everything else derives
from that declaration, as TensorFlow Playground's state.ts does for its controls:

- validation: `LabConfig.__post_init__` → `Setting.check` (a ConfigError names the field and its range);
- untrusted input (a link, a widget's value): `clamp` → `Setting.clamp`, which never raises and says
  what it changed;
- the command line: `Setting.parse` (strict: a bad value is an error, not a guess), and cli.py makes
  one flag per setting;
- the URL round trip: `to_query` / `from_query`, keys `Setting.url`, values `Setting.format`;
- the lab's widgets: ui/controls.py draws `Setting.widget` at `Setting.place`.

The CLI, a link and a widget's value are all read by one parser, `Setting.read`. The lesson pages
declare their own URL settings and widgets with the same `Setting` (ui/lessons/*.py, via `declare`).
What clamping changed is a `Notice` (a sentence's key and its parts), said in the page's language
by the UI (ui/urlstate.notice_text); the CLI refuses a bad value in English (ConfigError).
"""

from __future__ import annotations

import functools
import math
from dataclasses import KW_ONLY, asdict, dataclass, field, fields, replace
from typing import Any, Callable, Mapping, get_type_hints


class ConfigError(ValueError):
    """A setting is out of range or malformed; the message names the field and its range."""


# The highest drop probability, stated once: the p slider's end, the CLI's and a link's limit.
# Why 0.99, not "anything below 1": a mask must realise p. The masks now draw 32 random bits per
# unit against ceil(p·2³²) (dropout.keep_threshold), exact for every float32 p ≥ 2⁻⁹, 0.99 included.
# The 16-bit masks before them realised p only in steps of 1/65536: at 0.99 the expected multiplier
# (1 in theory) was off by -0.055 %, and by at most 1/(65536 · 0.01) = 0.15 % for any p ≤ 0.99,
# which no chart shows; at 0.999 by -0.8 %, at 0.99999 by +52 %. So 0.99 holds with either mask,
# on the slider's 0.01 grid (the 16-bit-exact values k/65536, e.g. 63/64, are off it), and it is
# the end worth teaching: a 200-unit layer keeps 2 units on average there.
P_MAX = 0.99


@dataclass(frozen=True)
class Setting:
    """One setting: what it accepts, what it means, and where it shows. `name` is bound by `declare`.

    Numbers: `lo` ≤ value ≤ `hi`, or `off` (a value below `lo` that turns the feature off: with
    mc_samples = 1 there is no spread to draw, so it is 0 or 2-200). Names: one of `choices`.
    """

    default: Any
    lo: float | None = None
    hi: float | None = None
    _: KW_ONLY
    choices: tuple[str, ...] = ()
    off: float | None = None
    help: str = ""  # one line: the CLI's help, and what a reader of the schema needs
    # The widget: "slider" (in `step`), "stops" (a slider that stops at `options`; a value from a
    # link between them becomes one more stop), "number" (in `step`, shown with `fmt`), "select"
    # (the choices in a list) or "radio" (side by side), or None: set by a link, a flag or the
    # page's own buttons only. Neither narrows what the field accepts. ui/controls.setting_widget
    # draws it, for the lab and the lesson pages alike.
    widget: str | None = None
    step: float | None = None
    options: tuple[float, ...] = ()
    fmt: str | None = None
    place: str | None = None  # the lab page's "bar" above the charts, its "sidebar", or its "advanced" expander
    # (a lesson page places its widgets itself)
    name: str = ""
    url: str = ""  # URL key; the name unless declared
    flag: str = ""  # CLI flag; --the-name unless declared
    text: str = ""  # translation keys: <text>.labels.<name>, <text>.help.<name>, <text>.options.<name>.<value>

    @property
    def kind(self) -> type:
        """int, float or str: the type of the default (a LabConfig field's annotation must agree)."""
        return type(self.default)

    def describe(self) -> str:
        """What the setting accepts, for messages and the CLI's help: "0 ≤ value ≤ 0.99"."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        span = f"{self._show(self.lo)} ≤ value ≤ {self._show(self.hi)}"
        return span if self.off is None else f"{self._show(self.off)} (off) or {span}"

    def _show(self, bound: float) -> str:
        return str(int(bound)) if self.kind is int else f"{bound:g}"  # 2147483647, not 2.14748e+09

    def translation(self, part: str, value: Any = None) -> str:
        """The key of the widget's label ("labels"), help ("help") or a choice's name ("options", value)."""
        return f"{self.text}.{part}.{self.name}" + ("" if value is None else f".{value}")

    # --- reading values: one parser, used strictly (the CLI) or leniently (a link, a widget) -------

    def read(self, raw: Any) -> Any:
        """Text (a link, a flag) or a number (a widget) as one of `choices`, or as a float not yet
        range-checked (±inf included: out of range, not unreadable). ConfigError when it is neither:
        NaN, markup, a bool, a list, a number too big for a float."""
        if self.choices:
            name = str(raw).strip().lower()
            if name not in self.choices:
                raise ConfigError(f"{self.name}={_shown(raw)}: must be {self.describe()}")
            return name
        try:
            number = math.nan if isinstance(raw, bool) else float(raw)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if math.isnan(number):
            raise ConfigError(f"{self.name}={_shown(raw)}: must be a number, {self.describe()}")
        return number

    def parse(self, raw: Any) -> Any:
        """Strict, for the command line: `raw` as a valid value of the field's type, else a ConfigError
        (2.5 hidden units is a mistake to report, not to round)."""
        value = self.read(raw)
        if self.kind is int and not self.choices:
            if not value.is_integer():
                raise ConfigError(f"{self.name}={_shown(raw)}: must be a whole number, {self.describe()}")
            value = int(value)
        self.check(value)
        return value

    def clamp(self, raw: Any, fallback: Any) -> tuple[Any, Notice | None]:
        """Lenient, for untrusted input: a valid value and, when it is not `raw` as given, a Notice
        that says why. Unreadable → `fallback`; out of range → the nearest valid value. Never raises."""
        try:
            value = self.read(raw)
        except ConfigError:
            return fallback, self._notice("not_a_choice" if self.choices else "not_a_number", raw, fallback)
        if self.choices:
            return value, None
        fixed = self._nearest(value)
        if fixed != value:
            return fixed, self._notice("outside" if self.off is None else "outside_or_off", raw, fixed)
        return fixed, None

    def _notice(self, key: str, raw: Any, used: Any) -> Notice:
        """What clamping `raw` to `used` did, with what the setting accepts (`describe`'s parts)."""
        accepts = {"choices": ", ".join(self.choices)} if self.choices else \
                  {"lo": self._show(self.lo), "hi": self._show(self.hi)}
        if self.off is not None:
            accepts["off"] = self._show(self.off)
        return Notice(self.name, key, {"value": _shown(raw), "used": repr(used), **accepts})

    def _nearest(self, number: float) -> Any:
        """The valid value nearest to `number` (finite or not), of the setting's type."""
        fixed = min(max(number, self.lo if self.off is None else self.off), self.hi)
        fixed = int(round(fixed)) if self.kind is int else float(fixed)
        if self.off is not None and self.off < fixed < self.lo:  # mc_samples = 1: on, so the least that is on
            fixed = self.kind(self.lo)
        return fixed

    def check(self, value: Any) -> None:
        """ConfigError unless `value` is valid as it is (of the field's type, in range)."""
        if self.choices:
            if value not in self.choices:
                raise ConfigError(f"{self.name}={_shown(value)}: must be {self.describe()}")
            return
        if isinstance(value, bool) or not isinstance(value, int if self.kind is int else (int, float)):
            number = "a whole number" if self.kind is int else "a number"
            raise ConfigError(f"{self.name}={_shown(value)}: must be {number}, {self.describe()}")
        # isfinite only on floats: math.isfinite(10**400) raises OverflowError instead of saying why.
        if (isinstance(value, float) and not math.isfinite(value)) or not self._allows(value):
            raise ConfigError(f"{self.name}={_shown(value)}: must be {self.describe()}")

    def _allows(self, number: float) -> bool:
        return self.lo <= number <= self.hi or number == self.off

    def format(self, value: Any) -> str:
        """`value` as URL text that reads back exactly (repr round-trips floats)."""
        return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Notice:
    """What clamping a link's (or a widget's) value changed, in no language: `key` names its sentence
    in the locale files (notices.<key>, dropviz/locales/<lang>/notices.toml), `fields` its parts as
    text. `fields["value"]` is what the link said (a repr, cut short): untrusted, so whoever shows it
    must show it as text, never as markup (ui/controls.notice_text). `name` is the setting's."""

    name: str
    key: str  # not_a_number, not_a_choice, outside, outside_or_off, outside_2d, repeated, not_a_preset
    fields: Mapping[str, str]

    def text(self, tr: Callable[..., str]) -> str:
        """The sentence in the language of `tr` (an i18n translator), its fields as they are."""
        return tr(f"notices.{self.key}", name=self.name, **self.fields)


def _shown(raw: Any) -> str:
    """`raw` for a message: its repr, cut short (a link can carry 10,000 characters)."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "…"


def declare(settings: Mapping[str, Setting], text: str = "") -> dict[str, Setting]:
    """Each setting bound to its name, with the URL key, flag and translation keys that default to it."""
    for name, s in settings.items():
        if s.kind not in (int, float, str) or (s.kind is str) != bool(s.choices):
            raise TypeError(f"{name}: a setting is a number with a range or a name with choices")
    return {name: replace(s, name=name, url=s.url or name, flag=s.flag or "--" + name.replace("_", "-"),
                          text=s.text or text) for name, s in settings.items()}


def setting(default: Any, lo: float | None = None, hi: float | None = None, **declared: Any) -> Any:
    """A LabConfig field: its default, with the rest of its declaration (a Setting) in its metadata."""
    return field(default=default, metadata={"setting": Setting(default, lo, hi, **declared)})


@functools.cache
def schema_of(cls: type) -> dict[str, Setting]:
    """A config class's settings, by field name, in field order; each field's annotation is its type."""
    schema = declare({f.name: f.metadata["setting"] for f in fields(cls)}, text="lab")
    for name, hint in get_type_hints(cls).items():
        if hint is not schema[name].kind:
            raise TypeError(f"{cls.__name__}.{name}: the default {schema[name].default!r} is not a {hint.__name__}")
    return schema


def clamp_all(schema: Mapping[str, Setting], raw: Mapping[str, Any], base: Mapping[str, Any]) -> tuple[dict, list[Notice]]:
    """Untrusted values by URL key (a link's query, a page's widgets) → every setting's value, and
    notices. Unknown keys are ignored, a repeated key's last value is used (and said), `base` fills
    in what is missing or unreadable. Never raises."""
    values, notices = dict(base), []
    for s in schema.values():
        if s.url not in raw:
            continue
        value = raw[s.url]
        if isinstance(value, (list, tuple)):  # a repeated URL key: the last one wins
            if not value:
                continue
            if len(value) > 1:
                notices.append(Notice(s.name, "repeated", {"count": str(len(value))}))
            value = value[-1]
        values[s.name], notice = s.clamp(value, base[s.name])
        if notice:
            notices.append(notice)
    return values, notices


DATASETS_1D = ("source", "linear", "sine", "step")  # regression: y over x (data.py)
# Classification: TensorFlow Playground's 2-D datasets, data2d.DATASETS_2D (config sits below data2d
# in the layers, so the names are repeated here; tests/test_classify_run.py checks they agree).
DATASETS_2D = ("circle", "xor", "gaussian", "spiral", "moons")
DATASETS = DATASETS_1D + DATASETS_2D
NOISE_MAX_2D = 0.5  # Playground's noise slider ends here (data2d.MAX_NOISE); a 1-D noise goes up to 3
VARIANTS = ("inverted", "vanilla", "torch")
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class LabConfig:
    """One run of the lab: a p=0 baseline and a dropout model trained side by side.

    Each field's `setting(default, lo, hi, …)` is its whole declaration (see Setting); its label and
    help on the page are lab.labels.<field> and lab.help.<field> (dropviz/locales/*/lab.toml).
    """

    # The drop probability of the dropout model; the baseline always has p = 0.
    p: float = setting(0.5, 0.0, P_MAX, widget="slider", step=0.01, place="bar",
                       help="probability of DROPPING each hidden unit (0 = no dropout; not the keep probability)")
    width: int = setting(200, 1, 1024, widget="stops", place="sidebar", help="hidden units per layer",
                         options=(1, 2, 4, 8, 16, 32, 64, 128, 200, 256, 512, 1024))  # 200: the source's width
    depth: int = setting(3, 1, 6, widget="slider", step=1, place="advanced",
                         help="number of hidden layers, each followed by ReLU and dropout")
    epochs: int = setting(2000, 1, 20_000, widget="stops", place="sidebar",
                          options=(10, 20, 50, 100, 200, 500, 1000, 1500, 2000, 3000, 5000, 10_000, 20_000),
                          help="training iterations; each is one step, on all the training points unless batch_size "
                               "is set (the source calls them epochs)")
    lr: float = setting(0.01, 1e-5, 10.0, widget="number", fmt="%.5g", place="advanced",
                        help="learning rate of the optimizer")
    optimizer: str = setting("sgd", choices=OPTIMIZERS, widget="select", place="advanced",
                             help="sgd = SGD with momentum 0.9 (as the source); adam = Adam")
    weight_decay: float = setting(0.0, 0.0, 1.0, widget="number", fmt="%.5g", place="advanced",
                                  help="L2 penalty added by the optimizer (0 = none)")
    # Playground's L1 beside the L2 above: weights only, not biases (model.l1_penalty).
    l1: float = setting(0.0, 0.0, 1.0, widget="stops", options=(0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1),
                        place="advanced", help="L1 penalty l1 · Σ|w| over the weights (not the biases) added to the loss "
                                               "(0 = none)")
    # 0: every training point in every step (the source's full batch). Else Playground's mini-batches,
    # reshuffled each epoch from the seed (model.MiniBatches).
    batch_size: int = setting(0, 0, 500, widget="stops", options=(0, 1, 2, 5, 10, 20, 50, 100), place="advanced",
                              help="training points per step, drawn afresh each epoch from the seed (0 = all of them: "
                                   "full batch)")
    # 1-D: the training points (the test points are the source's same x, or 200 fresh ones); 2-D: all
    # the points, Playground's way, split by `ratio` into training and test points.
    n_points: int = setting(10, 2, 500, widget="stops", place="advanced", options=(2, 5, 10, 20, 30, 50, 100, 200, 500),
                            help="1-D: number of noisy training points; 2-D: number of points in all, split by ratio "
                                 "into training and test points")
    noise: float = setting(0.5, 0.0, 3.0, widget="slider", step=0.05, place="advanced",
                           help="1-D: standard deviation of the noise added to the training targets; 2-D: Playground's "
                                f"noise, at most {NOISE_MAX_2D:g}")
    ratio: int = setting(50, 10, 90, widget="slider", step=10, place="advanced",
                         help="2-D: percent of the points used for training, the rest for testing (Playground's ratio)")
    seed: int = setting(1, 0, 2**31 - 1, widget="number", fmt="%d", place="advanced",
                        help="random seed for data, initial weights and dropout masks")
    # 1 by default: one pair, as the source. More to ask the verdict over seeds (a pair more each).
    n_seeds: int = setting(1, 1, 10, widget="stops", options=(1, 2, 3, 5, 10), place="advanced",
                           help="seeds trained side by side (seed, seed+1, …): the verdict counts on how many "
                                "dropout wins")
    dataset: str = setting("source", choices=DATASETS, widget="select", place="advanced",
                           help="1-D regression: a target function ('source' = the source demo's line with its same-x "
                                "test points); 2-D classification: one of Playground's point sets")
    variant: str = setting("inverted", choices=VARIANTS, widget="select", place="advanced",
                           help="dropout implementation: inverted (scale 1/(1-p) in training), vanilla (scale at "
                                "test), torch (F.dropout)")
    device: str = setting("auto", choices=DEVICES, widget="select", place="advanced",  # drawn only where CUDA is
                          help="where to train: auto picks CUDA when available")
    snapshot_every: int = setting(20, 1, 1000, widget="stops", place="advanced",
                                  options=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                                  help="iterations between two snapshots sent to the charts")
    # 0 = off; one mask has no spread, so no band: on means 2 or more.
    mc_samples: int = setting(0, 2, 200, off=0, widget="stops", place="advanced",
                              options=(0, 2, 5, 10, 20, 50, 100, 200),
                              help="dropout masks sampled at test time for the MC-dropout band (0 = off; 1-D only)")

    def __post_init__(self) -> None:
        for name, s in schema_of(type(self)).items():
            s.check(getattr(self, name))
        if self.task == "classification" and self.noise > NOISE_MAX_2D:  # one field's range hangs on another's value
            raise ConfigError(f"noise={self.noise!r}: must be 0 ≤ value ≤ {NOISE_MAX_2D:g} for the 2-D dataset "
                              f"{self.dataset} (Playground's noise)")

    @property
    def task(self) -> str:
        """"classification" for the 2-D datasets (a logit out, cross-entropy), else "regression"."""
        return "classification" if self.dataset in DATASETS_2D else "regression"

    @property
    def ps(self) -> tuple[float, ...]:
        """Drop probabilities of the models trained together: baseline first."""
        return (0.0, self.p)

    def models(self) -> list[tuple[float, int]]:
        """(p, seed) of every model the lab trains, in training order: the pair `ps` for seed, seed + 1,
        …, n_seeds of them, the config's own seed first (its pair is the one the charts show)."""
        seeds = [(self.seed + k) % (int(SCHEMA["seed"].hi) + 1) for k in range(self.n_seeds)]  # past 2³¹ - 1: 0, 1, …
        return [(p, seed) for seed in seeds for p in self.ps]

    def with_(self, **changes: Any) -> "LabConfig":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SCHEMA: dict[str, Setting] = schema_of(LabConfig)
DEFAULTS = LabConfig()


# Presets are partial configs layered over the defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # The source demo, exactly: 10 points, noise 0.5, 1-200-200-200-1, SGD(0.01, momentum 0.9), 2,000 iterations.
    "source": dict(dataset="source", n_points=10, noise=0.5, width=200, depth=3, epochs=2000,
                   lr=0.01, optimizer="sgd", weight_decay=0.0, p=0.5, seed=1),
    # Twice the source's noise on 20 points, tested on 200 fresh points: the p=0 net chases the
    # noise, dropout stays near the line. Chosen with `python -m dropviz seeds`: dropout's test
    # loss is lower on every one of seeds 1–30 (median ratio 0.37); with 10 points it was lower on
    # only 15 of seeds 11–30.
    "classroom": dict(dataset="linear", n_points=20, noise=1.0, width=200, depth=3, epochs=2000,
                      lr=0.01, optimizer="sgd", weight_decay=0.0, p=0.5, seed=1),
    # 2-D: Playground's xor with noise 0.4 (labels flipped near the axes), 200 points, half for
    # training. Without dropout the net draws islands around the flipped points and is confidently
    # wrong on fresh ones; with p = 0.5 the boundary stays closer to four quadrants (shorter on each
    # of seeds 11-30: tests/test_presets.py). Chosen with `python -m dropviz seeds` among circle,
    # xor, moons and spiral (noise 0.2-0.5, 100-200 points, width 32-64, depth 2-3, Adam): dropout's
    # test cross-entropy is lower on every one of seeds 1-30 (median ratio 0.20).
    "boundary": dict(dataset="xor", n_points=200, noise=0.4, ratio=50, width=32, depth=3, epochs=1000,
                     lr=0.01, optimizer="adam", weight_decay=0.0, l1=0.0, batch_size=0, p=0.5, seed=1),
}

# What the lab page says about each preset over seeds, so it need not train them: on how many of
# the seeds dropout's final test loss was lower than p = 0's, the medians and the median ratio
# dropout / p = 0 (for "boundary" the test loss is the cross-entropy). Made by
# `python -m dropviz seeds --presets source,classroom,boundary --no-grid --figures`;
# tests/test_presets.py checks that the engine still gives them.
PRESET_OVER_SEEDS: dict[str, dict[str, Any]] = {
    "source": dict(seeds=(11, 30), n=20, lower=15, median_p0=0.349, median_p=0.264, median_ratio=0.833),
    "classroom": dict(seeds=(11, 30), n=20, lower=20, median_p0=0.633, median_p=0.2, median_ratio=0.363),
    "boundary": dict(seeds=(11, 30), n=20, lower=20, median_p0=2.51, median_p=0.526, median_ratio=0.198),
}


def preset(name: str, **overrides: Any) -> LabConfig:
    """The named preset, with optional overrides."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r}: must be one of " + ", ".join(PRESETS))
    return replace(DEFAULTS, **{**PRESETS[name], **overrides})


def unknown_preset(name: Any) -> Notice:
    """A link's ?preset= that names no preset (the lab then starts from the defaults)."""
    return Notice("preset", "not_a_preset", {"value": _shown(name), "choices": ", ".join(PRESETS)})


def clamp(raw: Mapping[str, Any], base: LabConfig = DEFAULTS) -> tuple[LabConfig, list[Notice]]:
    """Turn untrusted values (URL parameters, widget values) into a valid config plus notices.

    Unknown keys are ignored, unreadable values fall back to `base`, numbers are clamped into
    range (see clamp_all and Setting.clamp). Never raises.
    """
    schema = schema_of(type(base))
    values, notices = clamp_all(schema, raw, base.to_dict())
    if values["dataset"] in DATASETS_2D and values["noise"] > NOISE_MAX_2D:  # e.g. ?dataset=spiral&noise=1
        given = raw.get(schema["noise"].url, values["noise"])  # what the link said, else the base's value
        given = given[-1] if isinstance(given, (list, tuple)) and given else given
        notices.append(Notice("noise", "outside_2d", {"value": _shown(given), "used": repr(NOISE_MAX_2D),
                                                       "hi": f"{NOISE_MAX_2D:g}", "dataset": values["dataset"]}))
        values["noise"] = NOISE_MAX_2D
    return replace(base, **values), notices


def to_query(config: LabConfig, base: LabConfig = DEFAULTS) -> dict[str, str]:
    """The fields that differ from `base`, as URL query strings (short links)."""
    schema = schema_of(type(config))
    return {schema[k].url: schema[k].format(v) for k, v in config.to_dict().items() if v != getattr(base, k)}


def from_query(query: Mapping[str, Any], base: LabConfig = DEFAULTS) -> tuple[LabConfig, list[Notice]]:
    """A config from URL query parameters; alias of `clamp`, named for the round trip."""
    return clamp(query, base)
