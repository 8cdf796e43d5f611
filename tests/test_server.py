"""server.py's routes (assets, chart frames) and preload header, through Starlette's TestClient.

The routes run here in a bare Starlette app over the page's runner (common.get_runner); the
browser tests cover them under `streamlit run app.py`.
"""

from __future__ import annotations

import gzip
import json
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dropviz.config import LabConfig
from dropviz.ui import assets, live_chart, server
from dropviz.ui.common import get_runner

TINY = LabConfig(width=8, depth=2, epochs=200, snapshot_every=20, device="cpu")
VIEWER = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def client(shutdown_runner, monkeypatch):
    monkeypatch.setattr(assets, "_prefix", assets._prefix)  # routes() marks the process as serving: undone after
    page = Route("/", lambda request: HTMLResponse("<html><head></head></html>"))
    text = Route("/text", lambda request: PlainTextResponse("plain"))
    app = Starlette(routes=[*server.routes(), page, text], middleware=server.middleware())
    with TestClient(app) as c:
        yield c


def finished_run(viewer: str = VIEWER, config: LabConfig = TINY):
    runner = get_runner()
    job = runner.watch(viewer, config)
    deadline = time.monotonic() + 20
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.finished and job.latest.status == "done"
    return runner.frame(viewer)


def test_routes_and_the_urls_handed_to_the_page_share_server_base_url_path(monkeypatch):
    from streamlit import config

    monkeypatch.setattr(assets, "_prefix", None)
    assert not assets.served()
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "/class/")
    try:
        paths = [route.path for route in server.routes()]
    finally:
        config.set_option("server.baseUrlPath", before)
    assert paths == ["/class/dropviz/asset/{name}", "/class/dropviz/frames/{viewer}"]
    assert assets.served() and assets.url("x.js") == "/class/dropviz/asset/x.js"
    assert server.frames_url(VIEWER) == f"/class/dropviz/frames/{VIEWER}"


def test_a_page_without_the_routes_names_the_frames_url_they_would_have(monkeypatch):
    """AppTest's page (no routes made in its process) streams the way a served one does: its frames
    URL is the route's, under server.baseUrlPath, though nothing fetches it there."""
    from streamlit import config

    monkeypatch.setattr(assets, "_prefix", None)
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "/class/")
    try:
        url = server.frames_url(VIEWER)
    finally:
        config.set_option("server.baseUrlPath", before)
    assert url == f"/class/dropviz/frames/{VIEWER}" and not assets.served()
    assert server.frames_url(VIEWER) == f"/dropviz/frames/{VIEWER}"  # no base path: at the root


def test_an_asset_comes_gzipped_once_with_a_year_of_caching(client):
    name = assets.add(b"console.log('dropviz');" * 100, ".js")
    r = client.get(f"{assets.ROUTE}/{name}", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.text == "console.log('dropviz');" * 100
    assert r.headers["content-encoding"] == "gzip" and "immutable" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("text/javascript")
    plain = client.get(f"{assets.ROUTE}/{name}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == b"console.log('dropviz');" * 100
    assert client.get(f"{assets.ROUTE}/nope.js").status_code == 404


def test_the_vendored_plotly_js_is_served_under_its_content_hash(client):
    name = assets.add_file(assets.PLOTLY_JS)
    r = client.get(f"{assets.ROUTE}/{name}", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.content == assets.PLOTLY_JS.read_bytes()
    assert int(r.headers["content-length"]) < len(r.content) / 2  # sent gzipped


def test_html_pages_load_plotly_js_and_the_chart_module_from_their_head_and_nothing_else_changes(client):
    page = client.get("/")
    name = assets.add_file(assets.PLOTLY_JS)
    assert page.text.startswith(f'<html><head><script async id="dropviz-plotly" src="{assets.ROUTE}/{name}"')
    module = assets.add_file(live_chart._FRONTEND / "live_chart.js")
    template = live_chart.theme_template_url()
    assert template.startswith(assets.ROUTE) and template.endswith(".json")
    assert page.text.endswith(f'</script><link rel="modulepreload" href="{assets.ROUTE}/{module}">'
                              f'<link rel="preload" as="fetch" crossorigin href="{template}"></head></html>')
    assert int(page.headers["content-length"]) == len(page.content)
    plain = client.get("/text")
    assert plain.text == "plain" and int(plain.headers["content-length"]) == 5


def test_frames_of_a_watched_run_carry_its_charts_and_version(client):
    frame = finished_run()
    r = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?after=-1&lang=en&charts=fit,loss",
                   headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    body = r.json()
    assert body["version"] == frame.version and body["final"] is True
    assert (body["iteration"], body["total"]) == (200, 200)
    assert sorted(body["charts"]) == ["fit", "loss"]  # only the charts asked for
    fit = body["charts"]["fit"]
    assert fit["key"] == "fit" and fit["version"] == frame.version and fit["figure"]["data"]
    assert fit["plotly_js"].startswith(assets.ROUTE)  # served by this server, not as a component file


def test_a_final_frame_the_page_already_has_comes_back_without_charts(client):
    frame = finished_run()
    r = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?after={frame.version}&lang=en&charts=fit")
    body = r.json()
    assert r.status_code == 200 and body == {"version": frame.version, "final": True, "iteration": 200,
                                             "total": 200, "its_per_sec": body["its_per_sec"], "status": "done",
                                             "charts": {}}  # what the status line needs, not the charts
    assert body["its_per_sec"] == round(frame.shown.its_per_sec, 1)


def test_the_language_of_a_frame_is_the_pages(client):
    finished_run()
    zh = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?lang=zh&charts=loss").json()["charts"]["loss"]
    en = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?lang=en&charts=loss").json()["charts"]["loss"]
    assert json.dumps(zh["figure"]["layout"]) != json.dumps(en["figure"]["layout"])


def test_a_long_poll_with_nothing_new_answers_204_and_keeps_the_lease(client, monkeypatch):
    monkeypatch.setattr(server, "LONG_POLL_SECONDS", 0.3)
    runner = get_runner()
    job = runner.watch(VIEWER, TINY)
    job.control.pause()  # nothing new will come, once the iteration it may be in has ended:
    frame, deadline = None, time.monotonic() + 10  # wait until the version holds still for 0.3 s
    while time.monotonic() < deadline:
        now = runner.frame(VIEWER)
        if frame is not None and job.latest is not None and now.version == frame.version:
            break
        frame = now
        time.sleep(0.3)
    before = job.viewers[VIEWER]
    started = time.monotonic()
    r = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?after={frame.version}&lang=en&charts=fit")
    assert r.status_code == 204 and time.monotonic() - started >= 0.3
    assert job.viewers[VIEWER] > before  # the poll renewed the viewer's lease, as a rerun does
    job.control.step(1)  # something new: a frame
    r = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?after={frame.version}&lang=en&charts=fit")
    assert r.status_code == 200 and r.json()["version"] > frame.version


@pytest.mark.parametrize("path", [
    "/not-a-viewer?lang=en", f"/{VIEWER.upper()}?lang=en", f"/{VIEWER}?lang=xx", f"/{VIEWER}x?lang=en",
])
def test_bad_frame_requests_are_refused_not_crashed(client, path):
    assert client.get(server.FRAMES_ROUTE + path).status_code == 400


def test_frames_for_a_viewer_who_watches_nothing_are_404_and_start_nothing(client):
    r = client.get(f"{server.FRAMES_ROUTE}/{VIEWER}?after=abc&lang=en&charts=fit,<script>")
    assert r.status_code == 404 and get_runner().stats()["jobs"] == 0


def test_a_frame_body_is_plain_json_without_gzip():
    frame = finished_run()
    from dropviz.ui.lab_charts import frame_body
    plain = frame_body(frame, "en", ("fit",), gzipped=False)
    assert json.loads(plain)["charts"]["fit"]["key"] == "fit"
    assert gzip.decompress(frame_body(frame, "en", ("fit",), gzipped=True)) == plain
