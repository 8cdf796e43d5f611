"""What dropviz adds to Streamlit's web server: two routes and a preload hint.

`streamlit run app.py` finds `app = st.App(...)` in app.py and serves it (uvicorn, one process),
with `routes()` and `middleware()` from here:

  /dropviz/asset/<name>       plotly.js, the chart module and layout templates (assets.py), gzipped
                              once and cached by browsers for a year (names are content hashes);
  /dropviz/frames/<viewer>    the viewer's newest chart frame once there is one newer than ?after=
                              (a long poll). The lab's charts stream through it, so a frame costs a
                              cached HTTP response instead of a Streamlit script rerun: reruns are
                              what a class of 60 on one server runs out of (tests/load).

and a `Link: rel=preload` header on the page, so the browser fetches plotly.js while it is still
loading Streamlit's own scripts. Both routes sit under server.baseUrlPath, like Streamlit's.

Without this server (AppTest, or another script) `assets.served()` is False and the page falls
back to Streamlit's own means: component file serving, and a script rerun per chart frame.
"""

from __future__ import annotations

import asyncio
import re
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..i18n import LANGS
from . import assets
from .common import get_runner
from .lab_charts import CHARTS, frame_body

FRAMES_ROUTE = "/dropviz/frames"
LONG_POLL_SECONDS = 5.0  # a frames request waits this long for something new, then answers 204
POLL_TICK = 0.05  # how often a waiting request looks at the run: 20 times a frame interval of 0.2 s
VIEWER_ID = re.compile(r"[0-9a-f]{32}")  # common.viewer_id's uuid4().hex

def frames_url(viewer: str) -> str:
    return f"{assets.base()}{FRAMES_ROUTE}/{viewer}"


def routes() -> list[Route]:
    """The asset and frames routes, for st.App; from now on the page uses them (assets.served())."""
    assets.mark_served()
    prefix = assets.base()
    return [Route(f"{prefix}{assets.ROUTE}/{{name}}", _asset), Route(f"{prefix}{FRAMES_ROUTE}/{{viewer}}", _frames)]


async def _asset(request: Request) -> Response:
    asset = assets.get(request.path_params["name"])
    if asset is None:
        return Response("no such asset", status_code=404, media_type="text/plain")
    return _body(request, asset.body, asset.gzipped, asset.content_type,
                 {"Cache-Control": "public, max-age=31536000, immutable"})


async def _frames(request: Request) -> Response:
    """?after=<version the page has>&lang=<language>&charts=fit,loss,…; 204 when nothing newer came."""
    viewer = request.path_params["viewer"]
    try:
        after = int(request.query_params.get("after", "-1"))
    except ValueError:
        after = -1
    language = request.query_params.get("lang", "en")
    keys = tuple(k for k in request.query_params.get("charts", "").split(",") if k in CHARTS)
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
    gzipped = _accepts_gzip(request)
    # Built and compressed in a worker thread: the first viewer of a snapshot pays ~10 ms, the rest
    # get the cached bytes; the event loop keeps serving everyone meanwhile.
    if frame.version == after:  # final, and the page has it already: say so, without the charts again
        keys = ()
    body = await asyncio.to_thread(frame_body, frame, language, keys, gzipped)
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
    """ASGI middleware for st.App: a `Link: <plotly.js>; rel=preload` header on every HTML page."""
    from starlette.middleware import Middleware

    class PreloadPlotly:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope["method"] != "GET":
                return await self.app(scope, receive, send)

            async def send_with_link(message):
                if message["type"] == "http.response.start":
                    headers = dict(message.get("headers") or [])
                    if headers.get(b"content-type", b"").startswith(b"text/html"):
                        link = f"<{assets.url(assets.add_file(assets.PLOTLY_JS))}>; rel=preload; as=script"
                        message = {**message, "headers": [*message.get("headers", []), (b"link", link.encode())]}
                await send(message)

            await self.app(scope, receive, send_with_link)

    return [Middleware(PreloadPlotly)]
