"""Load test for a class: many real Streamlit sessions over Streamlit's own websocket protocol.

A simulated viewer does what a browser tab does (captured from a real page with playwright):
it opens ws://127.0.0.1:PORT/_stcore/stream (subprotocol "streamlit"), sends a `rerun_script`
BackMsg carrying the page's query string, then answers every `auto_rerun` ForwardMsg the way the
frontend does: a timer that sends a `rerun_script` BackMsg for that fragment id (is_auto_rerun)
every `interval` seconds, whether or not the last one was answered, until a `stop_auto_rerun`.
And like the page's chart module (live_chart.js), when the page carries a chart stream it long-polls
that URL (dropviz/ui/server.py's frames route) for every newer frame, over HTTP with gzip.
Unlike a browser it sends no widget states (the page keeps its settings in session_state) and
fetches no static assets, so "time to first chart" starts at the websocket connect.

Measured per viewer: time to the first chart figure (in a `dropviz.live_chart` element or a
streamed frame); chart updates per second = script runs or streamed frames that brought charts of
a new iteration, over the time from the first chart until the run ended or the test did; bytes on
the wire (websocket after permessage-deflate, plus streamed frames as gzipped) and as payload;
exception elements; error alerts; the queue position shown. For the server (and its children): CPU seconds, peak RSS and threads.

    python -m tests.load.load_test                          # both scenarios, own server
    python -m tests.load.load_test --scenario class --viewers 60 --ramp 0 --duration 30
    python -m tests.load.load_test --scenario settings --json
    python -m tests.load.load_test --url http://127.0.0.1:8501   # a server already running here

Targets (issue 5), checked at the end; the exit status is 1 when one is missed:
  class     every viewer ≥ 1 chart update/s while its run is live, p95 first chart ≤ 3 s,
            zero exceptions
  settings  10 viewers with 10 different settings all see their run reach its last iteration
  distinct  60 viewers, each with its own p, arriving over 30 s (issue 11): p95 time to a trained
            iteration ≤ 3 s, every run at its last iteration within its paced duration + 15 s,
            zero exceptions, server CPU below the cores it has; CPU-s per viewer is reported
It talks to loopback only (no proxy), and every wait is bounded by --duration / --settings-duration.
--interval is a what-if: trigger the fragment at another interval than the page asks for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2
import psutil
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect

from tests.streamlit_server import StreamlitServer

REPO = Path(__file__).resolve().parents[2]
LIVE_CHART = "dropviz.live_chart"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ERROR, INFO = 1, 3  # Alert.Format


# --- the server ----------------------------------------------------------------------------------
def lab_server(options: dict[str, str] | None = None) -> StreamlitServer:
    """`streamlit run app.py` as the Docker image runs it (one OpenMP thread)."""
    return StreamlitServer(REPO / "app.py", env={"OMP_NUM_THREADS": "1"}, options=options)


def log_exceptions(log: str) -> dict[str, int]:
    """The exception lines of the tracebacks in a server log, counted ("module.Error: message")."""
    counts: dict[str, int] = {}
    for line in log.splitlines():
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Disconnected|Interrupt|Exit)\b.*", line):
            key = line[:160]
            counts[key] = counts.get(key, 0) + 1
    return counts


def pid_listening_on(port: int) -> int | None:
    """The process that serves `port` here (for --url), or None when the OS will not say."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return conn.pid
    except (psutil.AccessDenied, PermissionError):
        pass
    return None


def check_loopback(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"refusing {url}: this tool only talks to loopback (127.0.0.1)")
    return url.rstrip("/")


class Meter:
    """CPU seconds, peak RSS and thread count of a process and its children, sampled in the loop."""

    def __init__(self, pid: int | None):
        self.proc = psutil.Process(pid) if pid else None
        self.peak_rss = 0
        self.peak_threads = 0
        self._cpu0 = self.cpu_seconds()
        self._web0 = self.web_cpu_seconds()
        self._t0 = time.monotonic()

    def _tree(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _sum(self, measure) -> float:
        """`measure(process)` summed over the server's process tree; processes that just ended count 0."""
        total = 0
        for p in self._tree():
            try:
                total += measure(p)
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_seconds(self) -> float:
        return self._sum(lambda p: sum(p.cpu_times()[:2]))  # user + system

    def web_cpu_seconds(self) -> float:
        """The web process's own CPU (Streamlit, the pages, chart frames), without its training workers."""
        try:
            return sum(self.proc.cpu_times()[:2]) if self.proc else 0.0
        except psutil.NoSuchProcess:
            return 0.0

    def rss(self) -> int:
        return self._sum(lambda p: p.memory_info().rss)

    def threads(self) -> int:
        return self._sum(lambda p: p.num_threads())

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.rss())
        self.peak_threads = max(self.peak_threads, self.threads())

    async def run(self, every: float = 0.5) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every)

    def result(self) -> dict:
        if self.proc is None:
            return {"server_cpu_cores": None, "server_cpu_seconds": None, "server_web_cpu_seconds": None,
                    "server_peak_rss_mb": None, "server_peak_threads": None}
        cpu, wall = self.cpu_seconds() - self._cpu0, time.monotonic() - self._t0
        web = self.web_cpu_seconds() - self._web0
        return {"server_cpu_cores": round(cpu / wall, 2), "server_cpu_seconds": round(cpu, 1),
                "server_web_cpu_seconds": round(web, 1),
                "server_peak_rss_mb": round(self.peak_rss / 2**20), "server_peak_threads": self.peak_threads}


# --- one simulated browser tab ---------------------------------------------------------------------
class CountingConnection(ClientConnection):
    """Counts the bytes that really crossed the socket (after permessage-deflate)."""

    wire_bytes = 0

    def data_received(self, data: bytes) -> None:
        self.wire_bytes += len(data)
        super().data_received(data)


@dataclass
class ViewerStats:
    name: str
    query: str
    connect_s: float | None = None
    first_chart_s: float | None = None
    first_chart_done: bool = False  # the first chart already showed a finished run (cache)
    first_trained_s: float | None = None  # when a frame or status of iteration ≥ 1 first arrived
    frames: int = 0  # script runs or streamed frames that brought charts of a new iteration
    stream_frames: int = 0  # frames that came by the chart stream (HTTP), not a script run
    frame_times: list[float] = field(default_factory=list)
    chart_elements: int = 0
    runs_finished: int = 0
    reruns_sent: int = 0
    payload_bytes: int = 0
    wire_bytes: int = 0
    exceptions: int = 0
    exception_text: str = ""
    errors: int = 0
    error_text: str = ""
    queued_max_ahead: int | None = None
    asked_interval_s: float | None = None  # run_every of the page's fragment, from auto_rerun
    iteration: int = -1
    total: int = -1
    done_s: float | None = None
    end_s: float = 0.0
    failure: str = ""

    @property
    def updates_per_s(self) -> float | None:
        """Chart frames per second from the first chart until the run ended (or the test did)."""
        if self.first_chart_s is None or self.first_chart_done:
            return None
        end = self.done_s if self.done_s is not None else self.end_s
        window = end - self.first_chart_s
        if window < 2.0:
            return None  # too short to rate
        return max(self.frames - 1, 0) / window


class Viewer:
    """Connects, asks for the page, keeps the fragment timers going like the frontend, and counts."""

    def __init__(self, base_url: str, name: str, query: str = "", interval: float | None = None):
        self.ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
        self.origin = base_url
        self.stats = ViewerStats(name, query)
        self.interval = interval  # None: the interval the server asks for, as the browser does
        self.page_hash = ""
        self.timers: dict[str, asyncio.Task] = {}
        self._run_charts = 0
        self._run_iteration = -1
        self._last_frame_iteration = None
        self._t0 = 0.0
        self.first_chart = asyncio.Event()
        self.done = asyncio.Event()
        self.stream: dict = {"url": None, "after": -1, "final": True}  # as live_chart.js keeps it
        self._stream_task: asyncio.Task | None = None

    def _rerun(self, fragment_id: str = "") -> bytes:
        msg = BackMsg()
        rs = msg.rerun_script
        rs.query_string = self.stats.query
        rs.page_script_hash = self.page_hash
        if fragment_id:
            rs.fragment_id = fragment_id
            rs.is_auto_rerun = True
        ctx = rs.context_info
        ctx.timezone, ctx.timezone_offset, ctx.locale = "UTC", 0, "en-US"
        ctx.url = self.origin + "/" + ("?" + self.stats.query if self.stats.query else "")
        ctx.is_embedded, ctx.color_scheme = False, "light"
        return msg.SerializeToString()

    async def run(self, until: float, stop_after_done: bool = False, stop_after_first_chart: bool = False,
                  close: str = "clean") -> ViewerStats:
        """Stay until monotonic time `until` (or the run's end / the first chart when asked).

        close: "clean" sends a close frame; "abort" drops the TCP connection like a killed tab.
        """
        self._t0 = time.monotonic()
        s = self.stats
        ws = None
        try:
            async with asyncio.timeout_at(_loop_time(until)):
                ws = await connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin, proxy=None,
                                   max_size=None, max_queue=None, open_timeout=30, ping_interval=None,
                                   create_connection=CountingConnection, user_agent_header="dropviz-load-test")
                s.connect_s = time.monotonic() - self._t0
                await ws.send(self._rerun())
                async for raw in ws:
                    self._handle(ws, raw)
                    if stop_after_done and self.done.is_set():
                        break
                    if stop_after_first_chart and self.first_chart.is_set():
                        break
        except TimeoutError:
            pass  # the planned end of this viewer
        except Exception as exc:  # a refused or dropped connection is a result, not a crash
            s.failure = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            for task in [*self.timers.values(), self._stream_task]:
                if task is not None:
                    task.cancel()
            s.end_s = time.monotonic() - self._t0
            if ws is not None:
                s.wire_bytes += ws.wire_bytes
                if close == "abort":
                    ws.transport.abort()
                else:
                    try:
                        async with asyncio.timeout(5):
                            await ws.close()
                    except (TimeoutError, Exception):
                        ws.transport.abort()
        return s

    def _handle(self, ws, raw: bytes) -> None:
        s = self.stats
        s.payload_bytes += len(raw)
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "delta":
            if msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element)
        elif kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
            self._run_charts, self._run_iteration = 0, -1
        elif kind == "script_finished":
            s.runs_finished += 1
            self._end_of_run()
        elif kind == "auto_rerun":
            frag, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            self.stats.asked_interval_s = round(interval, 3)
            if frag and interval > 0 and frag not in self.timers:
                self.timers[frag] = asyncio.create_task(self._every(ws, frag, self.interval or interval))
        elif kind == "stop_auto_rerun":
            for frag in msg.stop_auto_rerun.fragment_ids:
                task = self.timers.pop(frag, None)
                if task:
                    task.cancel()

    def _element(self, el) -> None:
        s = self.stats
        kind = el.WhichOneof("type")
        raw = (el.bidi_component.bytes or el.bidi_component.json.encode()) if kind == "bidi_component" else b""
        if kind == "bidi_component" and el.bidi_component.component_name == LIVE_CHART and b'"stream"' in raw:
            self._follow(json.loads(raw))
        elif kind == "bidi_component" and el.bidi_component.component_name == LIVE_CHART and b'"status"' in raw:
            status = json.loads(raw)["status"]  # page.status_texts: the status line live_chart.js draws
            self._run_iteration = int(status["it"])
            s.iteration, s.total = self._run_iteration, int(status["total"])
        elif kind == "bidi_component" and el.bidi_component.component_name == LIVE_CHART:
            s.chart_elements += 1
            self._run_charts += 1
            payload = el.bidi_component.bytes or el.bidi_component.json.encode()  # charts come as bytes
            if s.first_chart_s is None and b'"figure"' in payload:
                s.first_chart_s = time.monotonic() - self._t0
                self.first_chart.set()
        elif kind == "exception":
            s.exceptions += 1
            s.exception_text = s.exception_text or f"{el.exception.type}: {el.exception.message}"[:300]
        elif kind == "alert":
            if el.alert.format == ERROR:
                s.errors += 1
                s.error_text = s.error_text or el.alert.body[:300]
            elif el.alert.format == INFO and "ahead of yours" in el.alert.body:
                ahead = re.search(r"\d+", el.alert.body)
                if ahead:
                    s.queued_max_ahead = max(s.queued_max_ahead or 0, int(ahead[0]))

    def _end_of_run(self) -> None:
        if self._run_charts:
            self._frame(self._run_iteration)
        self._at(self.stats.iteration, self.stats.total)
        self._run_charts = 0

    def _frame(self, iteration: int) -> None:
        """Charts of `iteration` arrived (by a script run or streamed): a frame, if that is new."""
        s = self.stats
        if iteration == self._last_frame_iteration:
            return
        s.frames += 1
        s.frame_times.append(round(time.monotonic() - self._t0, 3))
        self._last_frame_iteration = iteration
        if s.first_chart_s is not None and s.frames == 1 and iteration == s.total:
            s.first_chart_done = True

    def _at(self, iteration: int, total: int) -> None:
        s = self.stats
        s.iteration, s.total = iteration, total
        if iteration >= 1 and s.first_trained_s is None:
            s.first_trained_s = time.monotonic() - self._t0
        if total > 0 and iteration == total and s.done_s is None:
            s.done_s = time.monotonic() - self._t0
            self.done.set()

    def _follow(self, data: dict) -> None:
        """The page's chart stream (live_chart.js's `follow`): poll it while it is not final."""
        url = f"{self.origin}{data['stream']}?lang={data['lang']}&charts={data['charts']}"
        st = self.stream
        st["after"] = max(st["after"], data["after"]) if url == st["url"] else data["after"]
        st["url"], st["final"] = url, data["final"]
        if not st["final"] and (self._stream_task is None or self._stream_task.done()):
            self._stream_task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        """live_chart.js's `poll`: long-poll for each newer frame; count it like a script run's charts."""
        s, st = self.stats, self.stream
        async with httpx2.AsyncClient(timeout=30, trust_env=False) as client:  # loopback only, no proxy
            while not st["final"]:
                url = st["url"]
                try:
                    r = await client.get(f"{url}&after={st['after']}")
                except httpx2.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                s.wire_bytes += r.num_bytes_downloaded
                s.payload_bytes += len(r.content)
                if url != st["url"] or r.status_code == 204:
                    continue
                if r.status_code != 200:
                    s.errors += 1
                    s.error_text = s.error_text or f"frames: HTTP {r.status_code}"
                    await asyncio.sleep(0.5)
                    continue
                f = r.json()
                st["after"], st["final"] = f["version"], st["final"] or f["final"]
                if f["charts"]:
                    s.stream_frames += 1
                    if s.first_chart_s is None:
                        s.first_chart_s = time.monotonic() - self._t0
                        self.first_chart.set()
                    self._frame(f["iteration"])
                if "iteration" in f:
                    self._at(f["iteration"], f["total"])

    async def _every(self, ws, fragment_id: str, interval: float) -> None:
        """The frontend's setInterval: a rerun request for the fragment every `interval` seconds."""
        payload = self._rerun(fragment_id)
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            await ws.send(payload)
            self.stats.reruns_sent += 1


def _loop_time(monotonic_deadline: float) -> float:
    """asyncio's clock for a time.monotonic() deadline (they are the same clock on Linux, but be sure)."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())


# --- scenarios -------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def run_viewers(base_url: str, queries: list[str], ramp: float, duration: float, pid: int | None,
                      stop_after_done: bool, interval: float | None = None) -> tuple[list[ViewerStats], dict]:
    """Start one viewer per query, spread over `ramp` seconds; all leave by ramp + duration."""
    meter = Meter(pid)
    sampler = asyncio.create_task(meter.run())
    cpu0, t0 = time.process_time(), time.monotonic()
    until = t0 + ramp + duration

    async def one(i: int, query: str) -> ViewerStats:
        await asyncio.sleep(ramp * i / max(len(queries), 1))
        return await Viewer(base_url, f"v{i:02d}", query, interval).run(until, stop_after_done=stop_after_done)

    stats = await asyncio.gather(*(one(i, q) for i, q in enumerate(queries)))
    wall = time.monotonic() - t0
    sampler.cancel()
    meter.sample()
    machine = {**meter.result(), "wall_s": round(wall, 1),
               "client_cpu_cores": round((time.process_time() - cpu0) / wall, 2)}
    return list(stats), machine


def summarize(name: str, stats: list[ViewerStats], machine: dict, targets: dict) -> dict:
    first = [s.first_chart_s for s in stats if s.first_chart_s is not None]
    trained = [s.first_trained_s if s.first_trained_s is not None else float("inf") for s in stats]
    rates = [r for s in stats if (r := s.updates_per_s) is not None]
    wall = machine["wall_s"]
    out = {
        "scenario": name, "viewers": len(stats),
        "with_chart": len(first), "done": sum(s.done_s is not None for s in stats),
        "first_chart_p50_s": _r(percentile(first, 0.5)), "first_chart_p95_s": _r(percentile(first, 0.95)),
        "first_chart_max_s": _r(max(first, default=None)),
        "first_trained_p50_s": _r(percentile(trained, 0.5)), "first_trained_p95_s": _r(percentile(trained, 0.95)),
        "done_late_max_s": _r(max((late for s in stats if (late := _late(s, targets)) is not None), default=None)),
        "server_cpu_s_per_viewer": _r(machine["server_cpu_seconds"] / len(stats)) if machine.get("server_cpu_seconds") else None,
        "web_cpu_s_per_viewer": _r(machine["server_web_cpu_seconds"] / len(stats)) if machine.get("server_web_cpu_seconds") else None,
        "updates_per_s_min": _r(min(rates, default=None)), "updates_per_s_median": _r(percentile(rates, 0.5)),
        "rated_viewers": len(rates), "joined_finished_run": sum(s.first_chart_done for s in stats),
        "exceptions": sum(s.exceptions for s in stats), "errors_shown": sum(s.errors for s in stats),
        "failures": sum(bool(s.failure) for s in stats),
        "payload_mb": round(sum(s.payload_bytes for s in stats) / 2**20, 1),
        "wire_mb": round(sum(s.wire_bytes for s in stats) / 2**20, 1),
        "wire_kb_per_s_per_viewer": round(sum(s.wire_bytes for s in stats) / 1024 / wall / max(len(stats), 1), 1),
        "reruns_sent": sum(s.reruns_sent for s in stats), "runs_answered": sum(s.runs_finished for s in stats),
        "frames_streamed": sum(s.stream_frames for s in stats), "frames_total": sum(s.frames for s in stats),
        "interval_s": machine.get("interval_override_s") or next(
            (s.asked_interval_s for s in stats if s.asked_interval_s), None),
        "queued_max_ahead": max((s.queued_max_ahead for s in stats if s.queued_max_ahead is not None), default=None),
        **machine,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "examples": {"exception": next((s.exception_text for s in stats if s.exception_text), ""),
                     "error": next((s.error_text for s in stats if s.error_text), ""),
                     "failure": next((s.failure for s in stats if s.failure), "")},
    }
    missed = []
    if "first_chart_p95_s" in targets and (out["first_chart_p95_s"] is None
                                           or out["first_chart_p95_s"] > targets["first_chart_p95_s"]):
        missed.append(f"p95 first chart {out['first_chart_p95_s']} s > {targets['first_chart_p95_s']} s")
    if "min_updates_per_s" in targets:
        # Rated: viewers who watched the run train for 2 s or more. The others joined when it had
        # (nearly) finished and got its last frame at once; a viewer with no chart is missed below.
        slow = [s.name for s in stats if (r := s.updates_per_s) is not None and r < targets["min_updates_per_s"]]
        if slow:
            missed.append(f"{len(slow)} viewer(s) below {targets['min_updates_per_s']} update/s: {', '.join(slow[:8])}")
        if not rates:
            missed.append("no viewer watched a run train long enough to rate its updates")
    if "first_trained_p95_s" in targets and not out["first_trained_p95_s"] <= targets["first_trained_p95_s"]:
        missed.append(f"p95 first trained iteration {out['first_trained_p95_s']} s > {targets['first_trained_p95_s']} s")
    if "done_within_s" in targets:
        late = [s.name for s in stats if s.done_s is None or s.done_s > targets["done_within_s"]]
        if late:
            missed.append(f"{len(late)} run(s) not at their last iteration within {targets['done_within_s']:g} s: "
                          + ", ".join(late[:8]))
    if "max_server_cores" in targets and machine.get("server_cpu_cores") is not None \
            and machine["server_cpu_cores"] >= targets["max_server_cores"]:
        missed.append(f"server CPU {machine['server_cpu_cores']} cores ≥ the {targets['max_server_cores']} it has")
    if targets.get("all_done") and out["done"] < len(stats):
        missed.append(f"only {out['done']} of {len(stats)} runs reached their last iteration")
    if out["with_chart"] < len(stats):
        missed.append(f"{len(stats) - out['with_chart']} viewer(s) never got a chart")
    if out["exceptions"]:
        missed.append(f"{out['exceptions']} exception element(s)")
    if out["failures"]:
        missed.append(f"{out['failures']} connection failure(s)")
    out["missed"] = missed
    out["per_viewer"] = [{k: v for k, v in asdict(s).items() if k != "frame_times"} | {"updates_per_s": _r(s.updates_per_s)}
                         for s in stats]
    return out


def _late(s: ViewerStats, targets: dict) -> float | None:
    """Seconds past the run's paced duration at which it reached its last iteration (distinct scenario)."""
    paced = targets.get("paced_s")
    return None if paced is None or s.done_s is None else s.done_s - paced


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


SETTINGS_QUERIES = [f"p={p}&seed={seed}&epochs={epochs}"
                    for p, seed, epochs in zip((0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
                                               range(11, 21), (300, 400) * 5)]


async def scenario_class(url: str, pid: int | None, args) -> dict:
    queries = [args.query] * args.viewers
    stats, machine = await run_viewers(url, queries, args.ramp, args.duration, pid, stop_after_done=False,
                                       interval=args.interval)
    machine["interval_override_s"] = args.interval
    out = summarize("class", stats, machine, {"first_chart_p95_s": 3.0, "min_updates_per_s": 1.0})
    out.update(ramp_s=args.ramp, duration_s=args.duration, query=args.query, interval_override_s=args.interval)
    return out


async def scenario_settings(url: str, pid: int | None, args) -> dict:
    queries = SETTINGS_QUERIES[: args.settings_viewers]
    stats, machine = await run_viewers(url, queries, 0.0, args.settings_duration, pid, stop_after_done=True,
                                       interval=args.interval)
    machine["interval_override_s"] = args.interval
    out = summarize("settings", stats, machine, {"all_done": True})
    out.update(ramp_s=0.0, duration_s=args.settings_duration, queries=queries)
    return out


def distinct_queries(n: int) -> list[str]:
    """n students, each with their own p (0.005, 0.015, …), default settings otherwise."""
    return [f"p={0.005 + 0.01 * i:.3f}" for i in range(n)]


PACED_DEFAULT_S = 2000 / (20 / 0.2)  # a default run at the watching pace: 2,000 iterations, 20 per 0.2 s frame


async def scenario_distinct(url: str, pid: int | None, args) -> dict:
    """Everyone picks their own p and watches (issue 11): no two runs are shared."""
    queries = distinct_queries(args.distinct_viewers)
    limit = PACED_DEFAULT_S + 15
    stats, machine = await run_viewers(url, queries, args.distinct_ramp, limit + 5, pid, stop_after_done=True,
                                       interval=args.interval)
    machine["interval_override_s"] = args.interval
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = summarize("distinct", stats, machine, {"first_trained_p95_s": 3.0, "done_within_s": limit,
                                                 "paced_s": PACED_DEFAULT_S, "max_server_cores": cores})
    out.update(ramp_s=args.distinct_ramp, duration_s=limit + 5, queries=f"{queries[0]} … {queries[-1]}")
    return out


async def warm_up(url: str) -> float | None:
    """What the teacher does first: open the page once (a tiny run), so imports are done.

    Returns that first visit's time to first chart: the cold start of a fresh server process.
    """
    viewer = Viewer(url, "warm-up", WARM_UP_QUERY)
    stats = await viewer.run(time.monotonic() + 90, stop_after_first_chart=True)
    await asyncio.sleep(1.0)
    return _r(stats.first_chart_s)


WARM_UP_QUERY = "width=8&epochs=20&seed=99"


# --- report ----------------------------------------------------------------------------------------
ROWS = [
    ("viewers (with a chart / run done)", lambda r: f"{r['viewers']} ({r['with_chart']} / {r['done']})"),
    ("ramp, duration", lambda r: f"{r['ramp_s']:g} s, {r['duration_s']:g} s"),
    ("fragment interval", lambda r: f"{r['interval_s']} s" + (" (override)" if r.get("interval_override_s") else "")),
    ("first chart p50 / p95 / max", lambda r: f"{r['first_chart_p50_s']} / {r['first_chart_p95_s']} / {r['first_chart_max_s']} s"),
    ("first trained iteration p50 / p95", lambda r: f"{r['first_trained_p50_s']} / {r['first_trained_p95_s']} s"),
    ("last iteration, latest past the pace", lambda r: f"{r['done_late_max_s']} s"),
    ("server CPU per viewer (web process)", lambda r: f"{r['server_cpu_s_per_viewer']} s ({r['web_cpu_s_per_viewer']} s)"),
    ("updates/s per viewer min / median", lambda r: f"{r['updates_per_s_min']} / {r['updates_per_s_median']} ({r['rated_viewers']} rated, "
                                                      f"{r['joined_finished_run']} joined the finished run)"),
    ("fragment reruns sent / runs answered", lambda r: f"{r['reruns_sent']} / {r['runs_answered']}"),
    ("chart frames: streamed / all", lambda r: f"{r['frames_streamed']} / {r['frames_total']}"),
    ("bytes sent by server (wire / payload)", lambda r: f"{r['wire_mb']} MB / {r['payload_mb']} MB ({r['wire_kb_per_s_per_viewer']} kB/s per viewer)"),
    ("server CPU", lambda r: f"{r['server_cpu_cores']} cores ({r['server_cpu_seconds']} s over {r['wall_s']} s)"),
    ("server peak RSS / threads", lambda r: f"{r['server_peak_rss_mb']} MB / {r['server_peak_threads']}"),
    ("load-test client CPU", lambda r: f"{r['client_cpu_cores']} cores"),
    ("exceptions / errors shown / failures", lambda r: f"{r['exceptions']} / {r['errors_shown']} / {r['failures']}"),
    ("max queue position seen", lambda r: f"{r['queued_max_ahead']}"),
    ("load average (1 min) before / after", lambda r: f"{r['load_avg_1m_before']} / {r['load_avg_1m']}"),
    ("cold start: first chart of warm-up", lambda r: f"{r['cold_first_chart_s']} s"),
]


def print_table(results: list[dict]) -> None:
    width = max(len(name) for name, _ in ROWS) + 2
    cols = [f"{r['scenario']}" for r in results]
    print("".ljust(width) + " | ".join(c.ljust(40) for c in cols))
    for name, fmt in ROWS:
        print(name.ljust(width) + " | ".join(fmt(r).ljust(40) for r in results))
    for r in results:
        verdict = "all targets met" if not r["missed"] else "MISSED: " + "; ".join(r["missed"])
        print(f"{r['scenario']}: {verdict}")
        for key, text in r["examples"].items():
            if text and key != "server_traceback":
                print(f"  first {key}: {text}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=("class", "settings", "distinct", "both", "all"), default="both",
                    help="both = class and settings; all = those and distinct")
    ap.add_argument("--viewers", type=int, default=60, help="class scenario: concurrent viewers")
    ap.add_argument("--ramp", type=float, default=0.0, help="class scenario: seconds over which viewers arrive")
    ap.add_argument("--duration", type=float, default=30.0, help="class scenario: seconds held after the ramp")
    ap.add_argument("--query", default="", help="class scenario: the page's query string (default settings)")
    ap.add_argument("--settings-viewers", type=int, default=10, choices=range(1, len(SETTINGS_QUERIES) + 1),
                    metavar=f"1..{len(SETTINGS_QUERIES)}")
    ap.add_argument("--settings-duration", type=float, default=90.0, help="settings scenario: time limit, s")
    ap.add_argument("--distinct-viewers", type=int, default=60, help="distinct scenario: viewers, each its own p")
    ap.add_argument("--distinct-ramp", type=float, default=30.0, help="distinct scenario: seconds over which they arrive")
    ap.add_argument("--interval", type=float, default=None,
                    help="what-if: trigger fragments every INTERVAL s instead of the interval the page asks for")
    ap.add_argument("--url", help="use a server already running on loopback instead of starting one")
    ap.add_argument("--no-warmup", action="store_true",
                    help="measure from a cold server (the first page view imports torch and more)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if not 1 <= args.viewers <= 500 or not 0 < args.duration <= 600 or not 0 <= args.ramp <= 300:
        ap.error("bounds: 1 ≤ viewers ≤ 500, 0 < duration ≤ 600 s, 0 ≤ ramp ≤ 300 s")
    if not 1 <= args.distinct_viewers <= 500 or not 0 <= args.distinct_ramp <= 300:
        ap.error("bounds: 1 ≤ distinct-viewers ≤ 500, 0 ≤ distinct-ramp ≤ 300 s")
    if not 0 < args.settings_duration <= 600:
        ap.error("bounds: 0 < settings-duration ≤ 600 s")
    if args.interval is not None and not 0.05 <= args.interval <= 60:
        ap.error("bounds: 0.05 ≤ interval ≤ 60 s")

    server = None
    if args.url:
        url = check_loopback(args.url)
        pid = pid_listening_on(urllib.parse.urlsplit(url).port or 80)
    else:
        server = lab_server().__enter__()
        url, pid = server.url, server.pid
    load_before = os.getloadavg()[0]
    results = []
    try:
        cold = None if args.no_warmup else asyncio.run(warm_up(url))
        for name, scenario in (("class", scenario_class), ("settings", scenario_settings),
                               ("distinct", scenario_distinct)):
            if args.scenario in (name, "all") or (args.scenario == "both" and name != "distinct"):
                if results:
                    time.sleep(12)  # the last scenario's viewers are gone: let their jobs stop (lease) first
                results.append(asyncio.run(scenario(url, pid, args)))
    finally:
        if server is not None:
            log = server.output()
            server.__exit__(None, None, None)
            tracebacks = log.count("Traceback (most recent call last)")
            first = log[log.find("Traceback (most recent call last)"):][:1500] if tracebacks else ""
            for r in results:
                r["server_log_tracebacks"] = tracebacks
                r["server_log_exceptions"] = log_exceptions(log)
                r["examples"]["server_traceback"] = first
    for r in results:
        r["load_avg_1m_before"] = round(load_before, 2)
        r["cold_first_chart_s"] = cold
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
        if any(r.get("server_log_tracebacks") for r in results):
            print(f"server log: {results[0]['server_log_tracebacks']} traceback(s):")
            for line, n in results[0]["server_log_exceptions"].items():
                print(f"  {n} × {line}")
    return 1 if any(r["missed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
