"""Both languages say everything, and no page shows a missing text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dropviz.i18n import LANGS, LOCALES, catalog, missing, translate

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_every_language_has_the_same_keys_and_fields():
    english = catalog("en")
    for lang in LANGS:
        texts = catalog(lang)
        assert set(texts) == set(english), f"{lang}: keys differ"
        for key, text in english.items():
            fields = set(re.findall(r"{(\w+)}", text))
            assert set(re.findall(r"{(\w+)}", texts[key])) == fields, f"{lang} {key}: format fields differ"


def test_every_locale_file_exists_in_every_language():
    names = {lang: sorted(p.name for p in (LOCALES / lang).glob("*.toml")) for lang in LANGS}
    assert len({tuple(v) for v in names.values()}) == 1, names


def test_a_missing_key_is_visible():
    assert translate("no.such.key", "zh") == missing("no.such.key")


def page_texts(at: AppTest) -> list[str]:
    """Every text a page shows: markdown, labels, help, captions, warnings, buttons, charts."""
    texts = [el.value for kind in ("markdown", "caption", "title", "warning", "info", "error")
             for el in getattr(at, kind)]
    widgets = ("slider", "button", "selectbox", "number_input", "radio", "select_slider")
    texts += [w.label for kind in widgets for w in getattr(at, kind)]
    texts += [w.help or "" for kind in widgets for w in getattr(at, kind)]
    texts += [(el.proto.bytes.decode() or el.proto.json) for el in at.get("bidi_component")]
    return texts


def assert_no_missing_text(at: AppTest) -> None:
    """The page shows text, and none of it is a missing translation (i18n.missing's marker)."""
    texts = page_texts(at)
    marker = missing("")[0]
    assert texts and not [text for text in texts if marker in text]


@pytest.mark.parametrize("lang", list(LANGS))
def test_the_lab_page_shows_no_missing_text(lang):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = lang
    at.query_params["epochs"] = "50"
    at.query_params["width"] = "8"
    at.run()
    assert not at.exception
    assert_no_missing_text(at)
    if lang == "zh":
        assert at.slider(key="w_p").label == catalog("zh")["lab.labels.p"]
    from dropviz.ui.common import reset_runner
    reset_runner()


def test_a_lessons_settings_line_names_the_data_and_the_optimizer_in_the_pages_language():
    """A choice's value (source, sgd) is shown by its translated name, as the lab's own selectboxes do."""
    at = AppTest.from_string("from dropviz.ui.lessons.sweep import render\nrender()", default_timeout=60)
    at.query_params.update({"lang": "zh", "width": "8", "epochs": "40", "p_step": "0.3", "seeds_per_p": "1"})
    at.run()
    assert not at.exception
    zh = catalog("zh")
    line = at.caption[0].value
    assert zh["lab.options.dataset.source"] in line and zh["lab.options.optimizer.sgd"] in line, line
    assert "'source'" not in line and "sgd" not in line
    from dropviz.ui.common import reset_runner
    reset_runner()
