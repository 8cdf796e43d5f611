"""UI benchmark of the lab page, measured from a real headless Chromium (not a test).

    python -m tests.browser.ui_bench [--json]

Starts its own `streamlit run app.py` on a free loopback port (the repo's .streamlit/config.toml
applies), opens the page in the Debian Chromium and reports:

- first chart: navigation start → the fit chart's first Plotly draw (data-updates ≥ 1); cold (first
  page after the server started) and warm (a second page, fresh run), and a page that joins a
  finished shared run (served from the runner's cache);
- slider → frame: keydown on "Drop probability p" → the fit chart's first draw of the new run;
- chart updates per second and bytes per second to the browser over ~5 s of training: the payload
  (websocket messages after permessage-deflate, plus the chart stream's frames unzipped), the chart
  stream's frames as sent (gzipped), and every TCP byte on the wire to the browser (from `ss`);
- server CPU-seconds (user + system, children included) for one whole default demo, from page
  open until the status line says the run finished;
- server CPU while the finished run stays on screen, over 10 s, in % of one core.

Every wait is bounded; the whole command stops within --timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack

import psutil

from dropviz.runner import FRAMES_PER_JOB

from tests.streamlit_server import REPO_ROOT, StreamlitServer

from .conftest import CHROMIUM, CHROMIUM_ARGS

FIT = '[data-testid="dropviz-live-chart"][data-key="fit"]'
DEMO_ITERATIONS = 2000  # the default run (source demo)

# Installed in every page before its scripts run: timestamps (performance.now(), ms since navigation
# start) of the fit chart's draws and of status-line changes, found with a MutationObserver.
RECORDER_JS = r"""
(() => {
  const rec = (window.__bench = { firstFit: null, plotly: null, draws: [], statuses: [], keys: [],
                                  streamSent: 0, streamPayload: 0 });
  // The chart stream's frames (server.py): bytes as sent (gzipped) and unzipped.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name.includes("/dropviz/frames/")) { rec.streamSent += e.encodedBodySize; rec.streamPayload += e.decodedBodySize; }
    }
  }).observe({ type: "resource", buffered: true });
  let lastStatus = null, lastDiv = null, lastUpdates = 0;
  const status = () => {
    // live_chart.js draws the status line (page.status_texts) and moves it on with each frame
    for (const e of document.querySelectorAll('[data-testid="dropviz-status"]')) {
      const m = e.innerText.match(/^Iteration ([\d,]+) \/ ([\d,]+)/);
      if (m) return [Number(m[1].replace(/,/g, "")), Number(m[2].replace(/,/g, "")), e.innerText];
    }
    return null;
  };
  const check = () => {
    const now = performance.now();
    if (rec.plotly === null && window.Plotly) rec.plotly = now;
    const div = document.querySelector('[data-testid="dropviz-live-chart"][data-key="fit"]');
    const updates = div ? Number(div.dataset.updates) : 0;
    if (div && (div !== lastDiv || updates !== lastUpdates)) {
      if (updates >= 1) {
        if (rec.firstFit === null) rec.firstFit = now;
        rec.draws.push([now, updates, div !== lastDiv, Number(div.dataset.version || 0)]);
      }
      lastDiv = div; lastUpdates = updates;
    }
    const s = status();
    const key = s ? s[2] : null;
    if (key !== lastStatus) { lastStatus = key; if (s) rec.statuses.push([now, s[0], s[1], location.search]); }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true,
                                                  characterData: true });
  addEventListener("keydown", (e) => rec.keys.push([performance.now(), e.key]), true);
})();
"""


class Deadline:
    """The whole benchmark's time budget; each wait gets what is left of it (capped)."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def ms(self, cap_s: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("ui_bench ran out of time (--timeout)")
        return min(left, cap_s) * 1000


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def wire_bytes_sent(port: int) -> dict[str, int] | None:
    """TCP bytes the server has sent so far on each open connection, by peer (None without `ss`)."""
    try:
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # Each connection: a line with the addresses, then an indented line of TCP info.
    conns, peer = {}, None
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and re.fullmatch(r"\S+:\d+", fields[-1]) and "bytes" not in line:
            peer = fields[-1]
        m = re.search(r"bytes_sent:(\d+)", line)
        if m and peer:
            conns[peer] = int(m.group(1))
    return conns


def wire_delta(before: dict[str, int] | None, after: dict[str, int] | None) -> int | None:
    """Bytes sent between two `wire_bytes_sent` readings (connections closed in between are missed)."""
    if before is None or after is None:
        return None
    return sum(n - before.get(peer, 0) for peer, n in after.items())


class Page:
    """A page in its own browser context (cold HTTP cache), with websocket payload counting."""

    def __init__(self, browser, url: str, deadline: Deadline):
        self.deadline = deadline
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.add_init_script(RECORDER_JS)
        self.ws_bytes = 0
        self.errors: list[str] = []
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url, timeout=deadline.ms(60))

    def _frame(self, payload: bytes | str) -> None:
        # Binary frames (Streamlit's protobuf messages) come as bytes: their length is the payload size.
        self.ws_bytes += len(payload) if isinstance(payload, bytes) else len(payload.encode())

    def payload_bytes(self) -> int:
        """Websocket payload plus the chart stream's frames, unzipped."""
        return self.ws_bytes + self.rec()["streamPayload"]

    def stream_sent(self) -> int:
        return self.rec()["streamSent"]

    def rec(self) -> dict:
        return self.page.evaluate("() => window.__bench")

    def wait(self, js: str, cap_s: float, arg=None) -> None:
        self.page.wait_for_function(js, arg=arg, timeout=self.deadline.ms(cap_s), polling=50)

    def first_fit_s(self, res: dict, name: str) -> float:
        """Seconds to the first fit chart; also notes when the status line and plotly.js came."""
        self.wait("() => window.__bench.firstFit !== null", 60)
        r = self.rec()
        res[f"{name}_first_status_s"] = r["statuses"][0][0] / 1000 if r["statuses"] else None
        res[f"{name}_plotly_js_loaded_s"] = r["plotly"] / 1000 if r["plotly"] is not None else None
        return r["firstFit"] / 1000

    def wait_finished(self, total: int, cap_s: float) -> None:
        self.wait(f"() => window.__bench.statuses.some(s => s[1] === {total} && s[2] === {total})", cap_s)

    def fit_updates(self) -> int:
        return int(self.page.get_attribute(FIT, "data-updates") or 0)

    def close(self) -> None:
        self.context.close()


def slider_to_frame(lab: Page, label: str, key: str, cap_s: float = 20) -> tuple[float, float]:
    """Press `key` on a slider; seconds from keydown to the URL change and to the new run's first frame.

    The new run shows as a status line with a new query string; its first frame is the fit chart's
    first draw of a newer job (the chart's data-version, runner.Frame's: job serial × 10⁶ + frame).
    """
    before = lab.rec()
    n_keys, n_status = len(before["keys"]), len(before["statuses"])
    old_job = max((d[3] for d in before["draws"]), default=0) // FRAMES_PER_JOB
    old_search = lab.page.evaluate("() => location.search")
    slider = lab.page.get_by_role("slider", name=label)
    slider.focus()
    slider.press(key)
    lab.wait(f"""() => {{ const b = window.__bench;
                         return b.statuses.slice({n_status}).some(s => s[3] !== {json.dumps(old_search)})
                             && b.draws.some(d => Math.floor(d[3] / {FRAMES_PER_JOB}) > {old_job}); }}""", cap_s)
    r = lab.rec()
    t_key = r["keys"][n_keys][0]
    first_status = next(s for s in r["statuses"][n_status:] if s[3] != old_search)
    t_frame = next(d[0] for d in r["draws"] if d[3] // FRAMES_PER_JOB > old_job)
    return (first_status[0] - t_key) / 1000, (t_frame - t_key) / 1000


def measure(args) -> dict:
    from playwright.sync_api import sync_playwright

    deadline = Deadline(args.timeout)
    res: dict = {"cpu_cores": psutil.cpu_count(), "load_avg_1min_at_start": psutil.getloadavg()[0]}
    with ExitStack() as stack:
        t0 = time.monotonic()
        server = StreamlitServer(REPO_ROOT / "app.py")
        stack.callback(server.stop)
        server.wait_healthy(timeout=60)
        res["server_start_s"] = time.monotonic() - t0
        proc = psutil.Process(server.proc.pid)
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)

        # 1. cold: the first page after the server started (imports torch, first run of the script)
        cold = Page(browser, server.url + "/", deadline)
        res["first_chart_cold_s"] = cold.first_fit_s(res, "cold")
        cold.close()

        # 2. warm: a second page, fresh run (another seed, so neither shared nor cached): one whole demo
        cpu0 = cpu_seconds(proc)
        demo = Page(browser, server.url + "/?seed=2", deadline)
        res["first_chart_warm_s"] = demo.first_fit_s(res, "warm")
        time.sleep(1.0)  # out of the start-up transient
        u0, b0, s0, w0, c0, m0 = (demo.fit_updates(), demo.payload_bytes(), demo.stream_sent(),
                                  wire_bytes_sent(server.port), cpu_seconds(proc), time.monotonic())
        time.sleep(args.rate_seconds)
        demo.page.wait_for_timeout(50)  # let playwright deliver the window's last events
        u1, b1, s1, w1, c1, m1 = (demo.fit_updates(), demo.payload_bytes(), demo.stream_sent(),
                                  wire_bytes_sent(server.port), cpu_seconds(proc), time.monotonic())
        dt = m1 - m0
        res["updates_per_s"] = (u1 - u0) / dt
        res["payload_kb_per_s"] = (b1 - b0) / dt / 1000
        res["stream_sent_kb_per_s"] = (s1 - s0) / dt / 1000
        wire = wire_delta(w0, w1)
        res["wire_kb_per_s"] = wire / dt / 1000 if wire is not None else None
        res["cpu_share_training_pct"] = 100 * (c1 - c0) / dt
        demo.wait_finished(DEMO_ITERATIONS, 180)
        res["demo_cpu_s"] = cpu_seconds(proc) - cpu0
        res["demo_wall_s"] = demo.rec()["statuses"][-1][0] / 1000

        # 3. the finished run stays on screen: what does the server spend on it?
        time.sleep(2.0)  # the last rerun (downloads, no timer) settles
        c0, m0, b0 = cpu_seconds(proc), time.monotonic(), demo.payload_bytes()
        time.sleep(args.idle_seconds)
        res["idle_cpu_pct"] = 100 * (cpu_seconds(proc) - c0) / (time.monotonic() - m0)
        res["idle_payload_bytes"] = demo.payload_bytes() - b0

        # 4. a second viewer of the same settings gets the finished run from the runner's cache
        joiner = Page(browser, server.url + "/?seed=2", deadline)
        res["first_chart_cached_s"] = joiner.first_fit_s(res, "cached")
        joiner.close()

        # 5. slider → first frame of the new run, a few times on the demo page
        samples = []
        for _ in range(args.slider_samples):
            samples.append(slider_to_frame(demo, "Drop probability p", "ArrowRight"))
            time.sleep(1.0)  # watch the new run a moment, as a person would
        res["slider_to_url_s"] = [round(s[0], 3) for s in samples]
        res["slider_to_frame_s_all"] = [round(s[1], 3) for s in samples]
        res["slider_to_frame_s"] = statistics.median(s[1] for s in samples)
        res["page_errors"] = demo.errors + cold.errors + joiner.errors
        demo.close()
    res["load_avg_1min_at_end"] = psutil.getloadavg()[0]
    return res


TARGETS = [  # key, what, target text, passes
    ("first_chart_cold_s", "first chart, cold (first page after server start)", "≤ 2 s", lambda v: v <= 2),
    ("first_chart_warm_s", "first chart, warm (second page, new run)", "≤ 2 s", lambda v: v <= 2),
    ("first_chart_cached_s", "first chart, joining a finished shared run", "≤ 2 s", lambda v: v <= 2),
    ("slider_to_frame_s", "slider change → first frame of the new run (median)", "≤ 0.5 s", lambda v: v <= 0.5),
    ("updates_per_s", "fit chart updates per second while training", "≥ 4 /s", lambda v: v >= 4),
    ("wire_kb_per_s", "bytes sent to the browser while training (TCP, from ss)", "≤ 150 KB/s", lambda v: v <= 150),
    ("demo_cpu_s", "server CPU for one whole default demo", "≤ 3 CPU-s", lambda v: v <= 3),
    ("idle_cpu_pct", "server CPU, finished run on screen (10 s)", "< 5 % of a core", lambda v: v < 5),
]


def fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def table(res: dict) -> str:
    rows = [("measure", "value", "target", "")]
    for key, what, target, ok in TARGETS:
        v = res.get(key)
        rows.append((what, fmt(v), target, "" if v is None else ("ok" if ok(v) else "MISSED")))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w[i]) if i != 1 else c.rjust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    extra = {k: v for k, v in res.items() if k not in {t[0] for t in TARGETS}}
    lines.append("")
    lines += [f"{k}: {fmt(v) if not isinstance(v, list) else v}" for k, v in extra.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.browser.ui_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    ap.add_argument("--timeout", type=float, default=300, help="stop after this many seconds (default 300)")
    ap.add_argument("--rate-seconds", type=float, default=5, help="window for updates/s and bytes/s")
    ap.add_argument("--idle-seconds", type=float, default=10, help="window for the idle CPU share")
    ap.add_argument("--slider-samples", type=int, default=3, help="slider changes to time")
    args = ap.parse_args(argv)
    from playwright.sync_api import Error as PlaywrightError

    try:
        res = measure(args)
    except (TimeoutError, RuntimeError, PlaywrightError) as exc:
        print(f"ui_bench: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=2) if args.json else table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
