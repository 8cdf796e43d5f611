"""The lab page under Streamlit's AppTest: real script runs, real background training.

AppTest has no web server and no browser: the page draws what it draws under `streamlit run`, and
these tests read what it sends to the chart module (live_chart.py): each chart's payload as of the
script run, the stream's start (where, after which version) and the status line's texts. The
stream itself, and live_chart.js drawing the status line, are the browser tests' (tests/browser/).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dropviz.config import PRESETS, LabConfig
from dropviz.i18n import catalog

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module", autouse=True)
def stop_jobs_afterwards():
    yield
    from dropviz.ui.common import reset_runner
    reset_runner()


def open_page(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def viewer_config(at: AppTest) -> LabConfig:
    """The config of the job this page's session follows, read from the runner itself."""
    from dropviz.ui.common import get_runner
    job = get_runner().job_of(at.session_state["dropviz_viewer"])  # this session's, not an earlier test's
    wanted = at.session_state["w_p"], at.session_state["w_width"], at.session_state["w_epochs"]
    assert job is not None and (job.config.p, job.config.width, job.config.epochs) == wanted, (job, wanted)
    return job.config


def payloads(at: AppTest) -> list[dict]:
    """What the page sent to the chart module (live_chart.py's component): the plotly.js preloader,
    a payload per chart, the stream's start and the status line's texts."""
    return [json.loads(el.proto.bytes or el.proto.json) for el in at.get("bidi_component")]


def chart_payloads(at: AppTest) -> dict[str, dict]:
    """Each chart's whole payload as this script run sent it (its figure, version, height), by key."""
    return {p["key"]: p for p in payloads(at) if "key" in p}


def charts(at: AppTest) -> dict[str, dict]:
    """The figures sent to the live chart components, by chart key (not the empty placeholders
    a page draws before its run's first snapshot)."""
    return {key: p["figure"] for key, p in chart_payloads(at).items() if "figure" in p}


def stream(at: AppTest) -> dict | None:
    """Where the page's charts fetch their newer frames: the stream element's data."""
    return next((p for p in payloads(at) if "stream" in p), None)


def status(at: AppTest) -> dict | None:
    """The status line's texts and numbers (page.status_texts), as live_chart.js gets them."""
    return next((p["status"] for p in payloads(at) if "status" in p), None)


def wait_for_iteration(at: AppTest, at_least: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        line = status(at)
        if line is not None and line["it"] >= at_least:
            return line["it"]
        time.sleep(0.3)
    raise AssertionError(f"the run did not reach iteration {at_least} in {timeout} s")


def wait_for_the_end(at: AppTest, timeout: float = 30) -> dict:
    """Rerun until the stream says the run has ended (no newer frame will come); its data."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if (started := stream(at)) is not None and started["final"]:
            return started
        time.sleep(0.3)
    raise AssertionError(f"the run did not end in {timeout} s: {stream(at)}")


def test_defaults_render_without_exception_and_start_training():
    at = open_page(epochs="200", width="16")
    labels = [s.label for s in at.slider] + [s.label for s in at.select_slider]
    assert {"Drop probability p", "Hidden width", "Epochs"} <= set(labels)
    assert [b.label for b in at.button] == ["Train", "Pause", "Step", "Reset"]
    p_help = at.slider(key="w_p").help
    assert "DROPPING" in p_help and "not the probability of keeping" in p_help
    assert wait_for_iteration(at, 1) >= 1


@pytest.mark.parametrize("label,name", [("Source demo", "source"), ("Classroom", "classroom")])
def test_each_preset_renders_and_sets_its_values(label, name):
    at = open_page(epochs="100", width="8")
    at.selectbox(key="w_preset").set_value(name).run()
    assert not at.exception
    for field, value in PRESETS[name].items():
        assert at.session_state[f"w_{field}"] == value, field
    assert viewer_config(at).dataset == PRESETS[name]["dataset"]


def test_slider_change_changes_the_run_and_the_url():
    at = open_page(epochs="300", width="8")
    at.slider(key="w_p").set_value(0.3).run()
    assert not at.exception
    assert viewer_config(at).p == 0.3
    assert at.query_params["p"] in ("0.3", ["0.3"])


def test_advanced_controls_are_drawn_only_while_open_and_keep_their_values():
    at = open_page(epochs="300", width="8", depth="2", seed="7")
    assert not at.number_input and viewer_config(at).depth == 2  # closed: nothing drawn, the link's values hold
    at.session_state["lab_advanced"] = True
    at.run()
    assert {n.label for n in at.number_input} >= {"Learning rate", "Seed"}
    at.number_input(key="w_seed").set_value(9).run()
    assert viewer_config(at).seed == 9
    at.session_state["lab_advanced"] = False
    at.run()
    at.run()  # a run after the one that stopped drawing them
    assert not at.number_input and not at.exception
    config = viewer_config(at)
    assert (config.seed, config.depth) == (9, 2) and at.query_params["seed"] in ("9", ["9"])


def test_malformed_query_values_are_clamped_with_a_visible_warning():
    at = open_page(p="banana", width="-5", epochs="nan", lr="1e9", noise="∞", dataset="<script>")
    warning = " ".join(w.value for w in at.warning)
    for field in ("p:", "width:", "epochs:", "lr:", "noise:", "dataset:"):
        assert field in warning
    assert at.select_slider(key="w_width").value == 1
    assert at.session_state["w_lr"] == 10.0
    assert at.session_state["w_p"] == LabConfig().p


def test_chart_specs_hold_the_expected_traces():
    at = open_page(epochs="100", width="16", depth="2")
    wait_for_iteration(at, 20)
    figs = charts(at)
    assert set(figs) >= {"fit", "loss", "masks", "norms", "hist"}
    fit_names = [t.get("name") for t in figs["fit"]["data"]]
    assert {"training points", "test points", "p = 0 (no dropout)", "p = 0.5 (dropout)"} <= set(fit_names)
    lines = [trace for trace in figs["loss"]["data"] if trace["x"] != [None]]  # not the legend's key
    assert len(lines) == 4 and figs["loss"]["layout"]["yaxis"]["type"] == "log"
    assert [t["type"] for t in figs["masks"]["data"]] == ["heatmap"] * 2  # one per hidden layer


def test_over_budget_settings_are_refused_with_advice():
    at = open_page(width="1024", depth="6", epochs="20000", n_points="500")
    errors = " ".join(e.value for e in at.error)
    assert "Lower the hidden width" in errors
    assert not charts(at)


def test_over_budget_settings_are_refused_in_chinese_too():
    at = open_page(lang="zh", width="1024", depth="6", epochs="20000", n_points="500")
    errors = " ".join(e.value for e in at.error)
    assert "请减小隐藏层宽度" in errors and "GFLOP" in errors
    assert "Lower" not in errors and "This run" not in errors


def test_the_runners_failure_and_full_server_sentences_are_said_in_chinese(monkeypatch):
    """runner.py's English sentences (for logs and tests) reach the page in its language, numbers kept."""
    from dropviz.i18n import translate
    from dropviz.runner import FAILED_MESSAGE, FULL_MESSAGE
    from dropviz.ui import common
    monkeypatch.setattr(common, "t", lambda key, **fields: translate(key, "zh", **fields))
    zh = catalog("zh")
    assert common.run_error_text(FAILED_MESSAGE) == zh["app.run_failed"]
    assert common.run_error_text(FULL_MESSAGE.format(waiting=7)) == zh["app.server_full"].format(waiting=7)
    assert common.run_error_text("something else") == "something else"  # unknown: as it is


def test_pause_gives_a_private_paused_run():
    at = open_page(epochs="2000", width="8")
    wait_for_iteration(at, 1)
    at.button(key="b_pause").click().run()
    assert not at.exception
    from dropviz.ui.common import get_runner
    private = [j for j in get_runner()._by_viewer.values() if j.private]
    assert private and all(j.control.paused for j in private)
    first = wait_for_iteration(at, 1)
    time.sleep(1.0)
    assert wait_for_iteration(at, 1) == first  # paused: no progress


def test_divergence_shows_a_message_not_a_traceback():
    at = open_page(lr="10", epochs="300", width="32", snapshot_every="5")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not at.warning:
        time.sleep(0.3)
        at.run()
    assert not at.exception
    assert "learning rate" in " ".join(w.value for w in at.warning)


def test_divergence_is_named_in_chinese():
    at = open_page(lang="zh", lr="10", epochs="300", width="32", snapshot_every="5")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("NaN" in w.value for w in at.warning):
        time.sleep(0.3)
        at.run()
    said = " ".join(w.value for w in at.warning)
    assert "学习率 10 对" in said and "p = 0" in said, said
    assert "learning rate" not in said


def test_a_link_can_start_from_a_preset():
    at = open_page(preset="classroom", p="0.3", epochs="100")
    config = viewer_config(at)
    assert (config.dataset, config.n_points, config.noise) == tuple(PRESETS["classroom"][k] for k in ("dataset", "n_points", "noise"))
    assert (config.p, config.epochs) == (0.3, 100)  # the link's own values win over the preset's


def test_sliders_move_in_useful_steps_and_keep_a_links_value_between_them():
    at = open_page(epochs="100", width="150")
    width = at.select_slider(key="w_width")
    stops = [int(o.replace(",", "")) for o in width.options]
    assert {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024} <= set(stops) and len(stops) <= 16
    assert 150 in stops and width.value == 150
    epochs = [int(o.replace(",", "")) for o in at.select_slider(key="w_epochs").options]
    assert epochs[0] >= 10 and len(epochs) <= 20 and 2000 in epochs


def test_one_mc_sample_is_raised_to_two_with_a_notice():
    at = open_page(epochs="50", width="8", mc_samples="1")
    assert viewer_config(at).mc_samples == 2
    assert "mc_samples" in " ".join(w.value for w in at.warning)


def test_choice_values_are_shown_in_the_pages_language():
    at = open_page(epochs="50", width="8", lang="zh")
    at.session_state["lab_advanced"] = True
    at.run()
    zh = catalog("zh")
    assert at.selectbox(key="w_optimizer").options == [zh["lab.options.optimizer.sgd"], zh["lab.options.optimizer.adam"]]
    assert zh["lab.options.variant.inverted"] in at.selectbox(key="w_variant").options
    assert "sgd" not in at.selectbox(key="w_optimizer").options


def test_a_paused_run_says_paused_and_no_speed_of_showing():
    at = open_page(epochs="2000", width="8")
    wait_for_iteration(at, 1)
    at.button(key="b_pause").click().run()
    wait_for_iteration(at, 1)
    line = status(at)
    # live_chart.js puts the state right after where it stands (head, state, tail): the state is
    # "paused", and nothing after it is the replay's iterations/s (the old line read
    # "… · 1,550 iterations/s · device: cpu · paused")
    assert line["paused"] and line["paused_text"] == " · paused", line
    assert "shown at" not in line["tail"], line


def test_a_flat_prediction_is_named_as_collapsed():
    from types import SimpleNamespace
    import numpy as np
    from dropviz.ui.page import collapse_notes
    x = np.linspace(-1, 1, 50)
    snap = SimpleNamespace(ps=np.array([0.0, 0.5]), pred=np.stack([np.full(50, 0.3), 1.5 * x]),
                           data=SimpleNamespace(y_train=1.5 * x), classification=False)  # a 1-D run's
    notes = collapse_notes(snap)
    assert len(notes) == 1 and "p = 0 " in notes[0]


def test_the_verdict_at_the_end_of_a_run_counts_its_seeds():
    """n_seeds=3: one run of three pairs; at the end the verdict is the conclusion over the three
    seeds, the count the run's own, and the seeds chart has a dot per seed for each model."""
    at = open_page(epochs="60", width="8", n_seeds="3", snapshot_every="20")
    assert viewer_config(at).n_seeds == 3
    deadline, seen = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        seen = [m.value for m in at.markdown if "of 3 seeds" in m.value]
        if any(text.startswith("**Dropout had") for text in seen):
            break
        time.sleep(0.3)
        at.run()
    assert not at.exception
    assert any(text.startswith("**Dropout had") for text in seen), seen
    final = next(text for text in seen if text.startswith("**Dropout had"))
    k = int(final.split("test loss on ")[1].split()[0])
    assert 0 <= k <= 3 and final.startswith(f"**Dropout had the lower test loss on {k} of 3 seeds** (median ")
    assert "The charts show seed 1" in final
    from dropviz.ui.common import get_runner
    snap = next(j for j in get_runner()._by_viewer.values() if j.config.n_seeds == 3).latest
    test = snap.all_test_loss.reshape(-1, 2)
    assert k == int((test[:, 1] < test[:, 0]).sum())  # the count is the run's own
    import base64
    import numpy as np
    dots = [tr for tr in charts(at)["seeds"]["data"] if tr.get("mode") == "markers"]
    ys = [np.frombuffer(base64.b64decode(tr["y"]["bdata"]), tr["y"]["dtype"]) for tr in dots]  # plotly's typed arrays
    np.testing.assert_allclose(np.column_stack(ys), test, rtol=1e-6)  # a dot per seed for each model, its own loss


@pytest.mark.parametrize("preset_name,words", [("source", "does not reliably help"), ("classroom", "20 of 20")])
def test_a_preset_says_what_it_shows_over_seeds(preset_name, words):
    at = open_page(preset=preset_name)
    assert any(words in i.value for i in at.info), [i.value for i in at.info]


def test_the_seeds_widget_sets_the_runs_number_of_seeds_and_a_preset_keeps_it():
    """A teacher asks for a verdict over several seeds from the sidebar, not only by a link."""
    at = open_page(epochs="100", width="8")
    assert viewer_config(at).n_seeds == 1  # the default: one pair, as the source
    at.session_state["lab_advanced"] = True
    at.run()
    seeds = at.select_slider(key="w_n_seeds")
    assert seeds.label == catalog("en")["lab.labels.n_seeds"] and seeds.options == ["1", "2", "3", "5", "10"]
    seeds.set_value(3).run()
    assert not at.exception
    assert viewer_config(at).n_seeds == 3
    assert at.query_params["n_seeds"] in ("3", ["3"])
    at.selectbox(key="w_preset").set_value("classroom").run()
    config = viewer_config(at)
    assert (config.dataset, config.n_seeds) == (PRESETS["classroom"]["dataset"], 3)
    assert at.selectbox(key="w_preset").value == "classroom"  # 3 seeds of the Classroom preset are still it


def test_a_script_run_sends_the_charts_of_the_frame_the_stream_goes_on_from():
    """Every chart's payload is of one frame, the one the stream starts after, so the browser asks
    only for newer ones; the status line's numbers are of that frame or an earlier one."""
    at = open_page(epochs="3000", width="8", seed="21")
    wait_for_iteration(at, 20)
    started, sent = stream(at), chart_payloads(at)
    viewer = at.session_state["dropviz_viewer"]
    assert started["stream"] == f"/dropviz/frames/{viewer}"  # server.py's route, as the browser fetches it
    assert started["charts"].split(",") == list(sent) == ["fit", "loss", "net_p0", "net_p", "masks", "norms", "hist", "seeds"]
    assert (started["lang"], started["big"], started["final"]) == ("en", False, False)
    assert {p["version"] for p in sent.values()} == {started["after"]}, (started, [p["version"] for p in sent.values()])
    line = status(at)
    assert line["version"] <= started["after"] and line["run"] == "running" and not line["paused"]
    assert line["head"] == "Iteration {it} / {total}" and line["total"] == 3000  # live_chart.js fills it in


def test_a_finished_run_ends_the_stream_and_offers_its_downloads():
    """The last frame: the stream has nothing more to fetch, the status says finished, and the
    page of a finished run has the loss history, the run's settings and metrics, and the PyTorch
    script to download."""
    at = open_page(epochs="61", width="8", snapshot_every="20")
    started = wait_for_the_end(at)
    assert {p["version"] for p in chart_payloads(at).values()} == {started["after"]}
    line = status(at)
    assert (line["run"], line["it"], line["total"], line["finished"]) == ("done", 61, 61, " · finished")
    downloads = {d.proto.label: d for d in at.get("download_button")}
    assert list(downloads) == ["Loss history (CSV)", "Settings and metrics (JSON)", "PyTorch script (.py)"]
    assert not at.exception


def test_the_status_line_and_the_stream_are_in_the_pages_language():
    at = open_page(lang="zh", epochs="3000", width="8", seed="22")
    wait_for_iteration(at, 1)
    zh, line = catalog("zh"), status(at)
    assert (line["head"], line["pace"], line["paused_text"]) == (zh["lab.status_head"], zh["lab.pace"], zh["lab.paused"])
    assert "设备" in line["tail"] and "device" not in line["tail"]
    assert stream(at)["lang"] == "zh"
    layout = json.dumps(charts(at)["loss"]["layout"], ensure_ascii=False)
    assert re.search(r"[\u4e00-\u9fff]", layout) and "Loss: train vs test" not in layout, layout[:300]


def test_a_classroom_link_that_hides_the_extra_charts_streams_only_the_fit_and_the_loss():
    at = open_page(hide="charts_extra", big="1", epochs="3000", width="8", seed="23")
    wait_for_iteration(at, 1)
    assert list(chart_payloads(at)) == ["fit", "loss"]
    started = stream(at)
    assert started["charts"] == "fit,loss" and started["big"] is True
    # Its run computes neither the histograms nor the network view (issue 13.5); the page without
    # the link's hide flag shows every chart, and its run computes both.
    from dropviz.ui.common import get_runner
    job = get_runner().job_of(at.session_state["dropviz_viewer"])
    assert job.control.shows == frozenset() and job.latest.weight_hist == [] and job.latest.net is None
    full = open_page(big="1", epochs="3000", width="8", seed="24")
    assert get_runner().job_of(full.session_state["dropviz_viewer"]).control.shows == {"hist", "net"}


FAILING_FRAGMENT = """
import streamlit as st
from dropviz.ui.common import fragment

def failing():
    raise RuntimeError("OrderedDict mutated during iteration")

fragment(failing, run_every=None)()
st.write("the rest of the page")
"""


def test_a_failing_fragment_says_one_sentence_and_logs_the_traceback(caplog):
    """A timed fragment rerun runs outside the page's guard: its failure must not reach the student
    as Streamlit's error box (a 60-student load test showed one)."""
    at = AppTest.from_string(FAILING_FRAGMENT, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == [catalog("en")["app.page_error"]]
    assert any(m.value == "the rest of the page" for m in at.markdown)
    assert "OrderedDict mutated during iteration" in caplog.text


FAILING_PAGE = """
import sys, types
import streamlit as st
from dropviz.ui.app import _guarded

def render():
    raise RuntimeError("a page's own bug")

sys.modules["dropviz_failing_page"] = types.SimpleNamespace(render=render)
page = _guarded("failing", "dropviz_failing_page")
assert page.__name__ == "page_failing"  # Streamlit tells the pages apart by it
page()
st.write("the rest of the app")
"""


def test_a_failing_page_says_one_sentence_and_logs_the_traceback(caplog):
    """Pages are shielded like fragments (common.shielded): one sentence for the student, the
    traceback in the server's log, and the app around the page keeps drawing."""
    at = AppTest.from_string(FAILING_PAGE, default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == [catalog("en")["app.page_error"]]
    assert any(m.value == "the rest of the app" for m in at.markdown)
    assert "the page failing failed" in caplog.text and "a page's own bug" in caplog.text


def test_picking_a_2d_dataset_starts_from_playgrounds_kind_of_data():
    """From Classroom (20 points, noise 1), xor gets the 2-D preset's 200 points and Playground's
    top noise, 0.5, shown on the sliders and used by the run; a 2-D dataset with many points keeps them."""
    from dropviz.config import PRESETS

    at = open_page(preset="classroom", epochs="300", width="8")
    at.session_state["lab_advanced"] = True
    at.run()
    at.selectbox(key="w_dataset").set_value("xor").run()
    assert not at.exception
    assert (at.session_state["w_n_points"], at.session_state["w_noise"]) == (PRESETS["boundary"]["n_points"], 0.5)
    config = viewer_config(at)
    assert (config.dataset, config.n_points, config.noise) == ("xor", PRESETS["boundary"]["n_points"], 0.5)
    at.session_state["w_n_points"] = 100
    at.selectbox(key="w_dataset").set_value("circle").run()
    assert viewer_config(at).n_points == 100
