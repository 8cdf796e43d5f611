"""What dropviz adds to Streamlit's web server: two routes, and plotly.js in the page's head.

`streamlit run app.py` finds `app = st.App(...)` in app.py and serves it (uvicorn, one process),
with `routes()` and `middleware()` from here:

  /dropviz/asset/<name>       plotly.js, the chart module and layout templates (assets.py), gzipped
                              once and cached by browsers for a year (names are content hashes);
  /dropviz/frames/<viewer>    the viewer's newest chart frame once there is one newer than ?after=
                              (a long poll). The lab's charts stream through it, so a frame costs a
                              cached HTTP response instead of a Streamlit script rerun: reruns are
                              what a class of 60 on one server runs out of (tests/load).

and a script tag in the page's head (`middleware`), so plotly.js loads and runs while the browser
is still fetching Streamlit's own scripts. Both routes sit under server.baseUrlPath, like Streamlit's.

Without this server (AppTest, or another script) `assets.served()` is False and the chart assets
come through Streamlit's component file serving; the lab page is the same, its stream unfetched.
"""

from __future__ import annotations

import asyncio
import re
import time

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..i18n import LANGS
from . import assets, live_chart
from .common import get_runner
from .frames_route import FRAMES_ROUTE, frames_url  # noqa: F401  (frames_url: the page's, named here too)
from .lab_charts import CHARTS, frame_body

LONG_POLL_SECONDS = 5.0  # a frames request waits this long for something new, then answers 204
POLL_TICK = 0.05  # how often a waiting request looks at the run: 20 times a frame interval of 0.2 s
VIEWER_ID = re.compile(r"[0-9a-f]{32}")  # common.viewer_id's uuid4().hex


def warm_up() -> None:
    """Import the pages while the server starts, not in the first visitor's script run: it waited
    ~0.3 s for them (pandas, mostly) on top of everything else a first page waits for. And start
    the runner, whose worker processes take a few seconds to import torch."""
    from . import app, page  # noqa: F401
    get_runner()


def routes() -> list[Route]:
    """The asset and frames routes, for st.App, under server.baseUrlPath; from now on the page
    uses them (assets.served())."""
    path = str(st.get_option("server.baseUrlPath") or "").strip("/")
    prefix = f"/{path}" if path else ""
    assets.serve_under(prefix)  # the page's URLs use this prefix, as the routes do
    return [Route(f"{prefix}{assets.ROUTE}/{{name}}", _asset), Route(f"{prefix}{FRAMES_ROUTE}/{{viewer}}", _frames)]


async def _asset(request: Request) -> Response:
    asset = assets.get(request.path_params["name"])
    if asset is None:
        return Response("no such asset", status_code=404, media_type="text/plain")
    return _body(request, asset.body, asset.gzipped, asset.content_type,
                 {"Cache-Control": "public, max-age=31536000, immutable"})


async def _frames(request: Request) -> Response:
    """?after=<version the page has>&lang=<language>&charts=fit,loss,…[&big=1]; 204 when nothing newer came."""
    viewer = request.path_params["viewer"]
    try:
        after = int(request.query_params.get("after", "-1"))
    except ValueError:
        after = -1
    language = request.query_params.get("lang", "en")
    keys = tuple(k for k in request.query_params.get("charts", "").split(",") if k in CHARTS)
    big = request.query_params.get("big", "") == "1"  # the projector's charts (16 px text)
    if not VIEWER_ID.fullmatch(viewer) or language not in LANGS:
        return Response("bad request", status_code=400, media_type="text/plain")
    runner, deadline = get_runner(), time.monotonic() + LONG_POLL_SECONDS
    while True:
        frame = runner.frame(viewer)  # also renews the viewer's lease, as a script rerun would
        if frame is None:
            return Response("this viewer watches no run", status_code=404, media_type="text/plain")
        if frame.version != after or frame.final:
            break
        if time.monotonic() >= deadline:
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        await asyncio.sleep(POLL_TICK)
    if frame.version == after:  # final, and the page has it already: say so, without the charts again
        keys = ()
    gzipped = _accepts_gzip(request)
    # Built and compressed in a worker thread: the first viewer of a snapshot pays ~2 ms (figures,
    # encoding, gzip), the rest get the cached bytes; the event loop serves everyone meanwhile.
    body = await asyncio.to_thread(frame_body, frame, language, keys, gzipped, big)
    return _encoded(body, gzipped, "application/json", {"Cache-Control": "no-store"})


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _body(request: Request, body: bytes, gzipped: bytes, content_type: str, headers: dict) -> Response:
    if _accepts_gzip(request):
        return _encoded(gzipped, True, content_type, headers)
    return _encoded(body, False, content_type, headers)


def _encoded(body: bytes, gzipped: bool, content_type: str, headers: dict) -> Response:
    # A response with Content-Encoding set passes Streamlit's gzip middleware untouched.
    extra = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gzipped else {"Vary": "Accept-Encoding"}
    return Response(body, media_type=content_type, headers={**headers, **extra})


def middleware() -> list:
    """ASGI middleware for st.App: plotly.js, the chart module and its template load as the page opens.

    Streamlit has no way to add to its page's <head>, so this adds three tags to the HTML of the
    page as it is sent (`_with_head_tags`): an `async` script, so plotly.js runs while the browser
    still fetches Streamlit's own modules, not after the first chart's component has loaded
    (~1 s later here); live_chart.js waits for this tag instead of loading plotly.js a second
    time. And preloads of live_chart.js and the charts' layout template, which the first chart
    would otherwise only start to fetch when it mounts and when its data came.
    """
    from starlette.middleware import Middleware

    return [Middleware(_HeadTags)]


class _HeadTags:
    """Pure ASGI: rewrites 200 text/html responses (Streamlit's index.html, ~8 kB), passes the rest."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_with_tags(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if message["status"] == 200 and headers.get(b"content-type", b"").startswith(b"text/html") \
                        and b"content-encoding" not in headers:
                    start = message  # held back until the body is complete
                    return
                return await send(message)
            if start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _with_head_tags(b"".join(chunks))
            # The body changed: a new length, and no ETag (it names Streamlit's file, not this).
            headers = [(k, v) for k, v in start["headers"] if k.lower() not in (b"content-length", b"etag")]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_with_tags)


def _with_head_tags(html: bytes) -> bytes:
    plotly_js = assets.url(assets.add_file(assets.PLOTLY_JS))
    module, template = live_chart.module_url(), live_chart.theme_template_url()
    tags = (f'<script async id="dropviz-plotly" src="{plotly_js}" onerror="this.dataset.failed=1"></script>'
            f'<link rel="modulepreload" href="{module}">'
            f'<link rel="preload" as="fetch" crossorigin href="{template}">')
    return html.replace(b"<head>", b"<head>" + tags.encode(), 1)
