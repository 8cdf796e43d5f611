"""UI text in English and Simplified Chinese, kept out of the code: dropviz/locales/<lang>/*.toml.

Each file is one page's (or the charts') text; a key is "<file>.<table>.<name>", e.g.
"lab.labels.p". Formatting uses str.format fields: t("lab.status", it=5).
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any, Callable

LANGS = {"en": "English", "zh": "中文"}
DEFAULT_LANG = "en"
LOCALES = Path(__file__).parent / "locales"


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """Every text of a language as a flat dict of dotted keys."""
    flat: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.toml")):
        _flatten(path.stem, tomllib.loads(path.read_text(encoding="utf-8")), flat)
    return flat


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        if isinstance(value, dict):
            _flatten(f"{prefix}.{key}", value, out)
        else:
            out[f"{prefix}.{key}"] = value


def missing(key: str) -> str:
    """What a missing text shows: visible on the page, and easy for a test to find."""
    return f"⟦{key}⟧"


def translate(key: str, lang: str = DEFAULT_LANG, **fields: Any) -> str:
    """The text for `key` in `lang` (English if that language lacks it), formatted with `fields`."""
    text = catalog(lang).get(key) or catalog(DEFAULT_LANG).get(key)
    if text is None:
        return missing(key)
    return text.format(**fields) if fields else text


def translator(lang: str) -> Callable[..., str]:
    """t(key, **fields) bound to one language: what pages and figure functions are given."""
    lang = lang if lang in LANGS else DEFAULT_LANG
    return functools.partial(translate, lang=lang)
