// dropviz live chart: one Plotly div per chart, updated in place with Plotly.react.
// Served once per page as a file (see live_chart.py); each chart's inline stub imports it.
// Frames come two ways: inline, with a Streamlit script run, and streamed (see `follow`).
const charts = new WeakMap();  // component parentElement -> per-instance state
const byKey = new Map();  // chart key -> the same state, for streamed frames

function loadPlotly(url) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  // On window, not module scope: a changed JS string is a new module, same page.
  return (window.__dropvizPlotly ??= new Promise((resolve, reject) => {
    // Under `streamlit run app.py` the page's head already loads it (server.py): wait for that one.
    const early = document.getElementById("dropviz-plotly");
    const s = early && !early.dataset.failed ? early
      : document.head.appendChild(Object.assign(document.createElement("script"), { src: url }));
    s.addEventListener("load", () => resolve(window.Plotly));
    s.addEventListener("error", () => {
      s.dataset.failed = "1";
      window.__dropvizPlotly = undefined;
      reject(new Error("dropviz: cannot load " + url));
    });
  }));
}

function loadText(url) {
  const cache = (window.__dropvizTemplates ??= {});
  return (cache[url] ??= fetch(url).then((r) => r.text()));
}

// Streamlit's default plotly template holds placeholder colors #000001..#000040
// that st.plotly_chart swaps for theme colors in the browser; do the same from
// the --st-* CSS variables components v2 puts on our container, and add a
// Streamlit-like look. Only in the template, so the figure's own layout wins.
function streamlitTemplate(text, div) {
  const css = getComputedStyle(div), v = (name) => css.getPropertyValue("--st-" + name).trim();
  const colors = [
    ...["categorical", "sequential", "diverging"].flatMap((k) => v(`chart-${k}-colors`).split(",")),
    "", v("green-color"), v("red-color"), v("blue-color"), v("border-color"), v("gray-text-color"),
    v("text-color"), v("background-color"), v("border-color-light"), v("secondary-background-color"),
  ];
  const t = JSON.parse(text.replace(/"#0000([0-4]\d)"/g, (m, n) => JSON.stringify(colors[n - 1] || "#444")));
  const grid = v("border-color-light"), axis = { gridcolor: grid, zerolinecolor: grid, linecolor: grid };
  Object.assign((t.layout ??= {}), {
    font: { color: v("gray-text-color"), family: v("font") || undefined },
    title: { font: { color: v("heading-color") } },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: axis, yaxis: { ...axis },
    hoverlabel: { bgcolor: v("background-color"), bordercolor: v("border-color"), font: { color: v("text-color") } },
  });
  return t;
}

async function draw(c, d) {
  if (!d.figure) return;  // a placeholder: the stream brings the first figure
  // A script run's inline frame can arrive after a newer streamed one: never go back. Keep what was
  // passed over, in case the page turns out to follow another viewer (see `follow`).
  if (d.version != null && c.version != null && d.version < c.version) { c.passed = d; return; }
  c.passed = null;
  // The same frame again (a script run's inline copy of the frame the stream already drew: the
  // rerun of a page whose run paused or ended) is not drawn twice. Compared only for an equal
  // version: the text of a frame can change with the language, its height with the page.
  // Kept as text before Plotly sees it: Plotly writes into a figure it draws (autoranges).
  const text = JSON.stringify(d.figure);
  if (d.version != null && d.version === c.version && d.height === c.height && text === c.drawn) return;
  c.version = d.version ?? c.version;
  c.drawn = text;
  c.height = d.height;
  const [Plotly, tplText] = await Promise.all([loadPlotly(d.plotly_js), d.template && loadText(d.template)]);
  const fig = d.figure, layout = fig.layout || {};
  if (tplText) {
    const themed = tplText.includes('"#000001"');
    const tplKey = d.template + (themed ? getComputedStyle(c.div).getPropertyValue("--st-text-color") : "");
    if (c.tplKey !== tplKey) {  // parse once per template (and theme), not every frame
      c.tplKey = tplKey;
      c.tpl = themed ? streamlitTemplate(tplText, c.div) : JSON.parse(tplText);
    }
    layout.template = c.tpl;
  }
  // Same uirevision on every react => Plotly keeps zoom/pan/legend state.
  // A figure's own uirevision wins, so a new run can force a reset.
  layout.uirevision ??= d.key;
  layout.height = d.height;
  layout.autosize = true;
  const config = {
    displaylogo: false,
    displayModeBar: "hover",
    showTips: false,  // no "double-click to isolate" popups on a live dashboard
    toImageButtonOptions: { format: "png", filename: d.key },
  };
  await Plotly.react(c.div, fig.data || [], layout, config);
  c.div.dataset.updates = String(Number(c.div.dataset.updates) + 1);
  c.div.dataset.version = String(c.version ?? "");
  c.div.dataset.traces = String((fig.data || []).length);
}

// One Plotly draw at a time, in order of arrival: the first chart is done before the next starts.
let drawing = Promise.resolve();
function oneAtATime(fn) {
  const done = drawing.then(fn);
  drawing = done.catch(() => {});
  return done;
}

// Redraw with `d`; renders can arrive faster than Plotly draws: only the newest counts.
function show(c, d) {
  c.next = d;
  if (c.busy) return;
  c.busy = true;
  (async () => {
    try {
      while (c.next) { const next = c.next; c.next = null; await oneAtATime(() => draw(c, next)); }
    } catch (e) { console.error("dropviz live_chart:", e); }
    finally { c.busy = false; }
  })();
}

// Streaming (server.py's frames route): one long poll per page for every chart's newer frame, so
// a frame costs the server a cached HTTP response, not a Streamlit script run.
const stream = { url: null, viewer: null, after: -1, final: true, running: false, element: null, askRerun: null,
                 askEnded: null, asked: -1e9, rescue: null, wake: null };
// A wait between failed polls that `follow` cuts short when the page gets a new stream.
const pause = (ms) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  stream.wake = () => { clearTimeout(timer); resolve(); };
}).finally(() => { stream.wake = null; });

// Streamlit 1.67 can drop elements from the page when a fragment rerun (the status line's) and a
// full rerun (a slider moved) overlap: its stale-node cleanup runs with the wrong run's id
// (streamlit/streamlit#16708 and its kin), and the lost charts stay lost until the next full
// rerun. So a chart that was on the page and is still gone a second later, while the stream that
// feeds it is on the page, asks for that rerun. (A second: Streamlit also moves elements by
// unmounting and mounting them again.)
const everShown = new Set();
const LOST_FOR_MS = 1000, RERUN_AT_MOST_EVERY_MS = 5000;

function rescueLostCharts(keys) {
  const lost = () => keys.filter((key) => everShown.has(key) && !byKey.get(key)?.div.isConnected);
  if (stream.rescue || !lost().length) return;
  stream.rescue = setTimeout(() => {
    stream.rescue = null;
    const still = lost();
    if (!still.length || !stream.element?.isConnected || !stream.askRerun) return;
    if (performance.now() - stream.asked < RERUN_AT_MOST_EVERY_MS) return;
    stream.asked = performance.now();
    console.warn("dropviz: charts lost from the page, redrawing:", still.join(", "));
    stream.askRerun(still.join(","));
  }, LOST_FOR_MS);
}

// Frame versions only grow for one viewer in one server process. A page that follows another
// viewer (its session was new: the server restarted, or it was away longer than Streamlit keeps a
// session) starts over: versions from before say nothing about the new ones, which in a restarted
// process start low again. So every chart forgets its version, and draws the frame it passed over.
function follow(d) {
  const viewer = new URL(d.stream, window.location.href).href;
  const url = `${viewer}?lang=${encodeURIComponent(d.lang)}&charts=${encodeURIComponent(d.charts)}` +
    (d.big ? "&big=1" : "");
  if (stream.viewer !== null && viewer !== stream.viewer) {
    for (const c of byKey.values()) {
      c.version = null;
      if (c.passed) { show(c, c.passed); c.passed = null; }
    }
  }
  stream.after = url === stream.url ? Math.max(stream.after, d.after) : d.after;
  if (url !== stream.url) stream.wake?.();  // no waiting out the last URL's back-off
  stream.viewer = viewer;
  stream.url = url;
  stream.final = d.final;
  if (!stream.final && !stream.running) poll();
}

async function poll() {
  stream.running = true;
  let backoff = 250;  // after an error: the server may be restarting, or the session gone
  try {
    while (!stream.final) {
      const url = stream.url;
      let status = 0, f = null;
      try {
        const r = await fetch(`${url}&after=${stream.after}`, { cache: "no-store" });
        status = r.status;
        if (r.ok && status !== 204) f = await r.json();
      } catch (e) { /* offline, or the answer broke off */ }
      if (url !== stream.url || status === 204) continue;  // other settings meanwhile / nothing new yet
      if (!f) { await pause(backoff); backoff = Math.min(2 * backoff, 5000); continue; }
      backoff = 250;
      if (f.version < stream.after) continue;
      stream.after = f.version;
      if (f.iteration != null) {
        statusLine.frame = { version: f.version, it: f.iteration, total: f.total, rate: f.its_per_sec, run: f.status };
        drawStatus();
      }
      if (f.final) {
        stream.final = true;
        stream.askEnded?.(f.version);  // the page of a finished run (downloads, the final verdict) at once
      }
      for (const [key, payload] of Object.entries(f.charts)) {
        const c = byKey.get(key);
        if (c) show(c, payload);
      }
      rescueLostCharts(Object.keys(f.charts));
    }
  } finally { stream.running = false; }
}

// The page's CSS (common.page_css) in the document's head: a <style> there outlives every rerun,
// where Streamlit's own element for it is briefly gone while a rerun redraws the page.
function pageCss(css) {
  let el = document.getElementById("dropviz-page-css");
  if (!el) el = document.head.appendChild(Object.assign(document.createElement("style"), { id: "dropviz-page-css" }));
  if (el.textContent !== css) el.textContent = css;
}

// The status line: its texts come with a script run (page.status_texts), the iteration, total and
// pace with every streamed frame, so it moves on five times a second without a rerun. Text only.
const statusLine = { host: null, texts: null, frame: null };
const fmt = (x) => Math.round(x).toLocaleString("en-US");

function drawStatus() {
  const s = statusLine.texts, host = statusLine.host;
  if (!s || !host || !host.isConnected) return;
  // The newer of the script run's numbers and the last streamed frame's (versions grow for a viewer).
  const f = statusLine.frame && (s.version == null || statusLine.frame.version >= s.version) ? statusLine.frame
    : { it: s.it, total: s.total, rate: s.rate, run: s.run };
  let line = host.querySelector('[data-testid="dropviz-status"]');
  if (!line) {
    line = document.createElement("div");
    line.dataset.testid = "dropviz-status";
    line.style.cssText = "font-size:1rem;line-height:1.5;padding:0.1rem 0";
    const head = document.createElement("strong"), rest = document.createElement("span");
    const track = document.createElement("div"), bar = document.createElement("div");
    track.setAttribute("role", "progressbar");
    track.style.cssText = "height:0.4rem;border-radius:0.2rem;margin-top:0.35rem;" +
      "background:var(--st-secondary-background-color,#f0f2f6)";
    bar.style.cssText = "height:100%;border-radius:0.2rem;background:var(--st-primary-color,#F58518);width:0";
    track.appendChild(bar);
    line.append(head, rest, track);
    host.appendChild(line);
  }
  const [head, rest, track] = line.children;
  const ended = f.run != null && f.run !== "running";
  head.textContent = s.head.replace("{it}", fmt(f.it)).replace("{total}", fmt(f.total));
  const state = ended ? s.finished : s.paused ? s.paused_text : s.pace.replace("{pace}", fmt(f.rate || 0));
  rest.textContent = state + s.tail;
  const share = f.total ? Math.min(1, f.it / f.total) : 0;
  track.setAttribute("aria-valuenow", String(Math.round(100 * share)));
  track.firstChild.style.width = `${100 * share}%`;
  line.dataset.paused = s.paused && !ended ? "1" : "0";
}

export default function ({ data, parentElement, setTriggerValue }) {
  if (data.preload) {  // start fetching plotly.js with the page, before any chart has data
    loadPlotly(data.plotly_js).catch((e) => console.error(e));
    pageCss(data.css || "");
    return () => {};
  }
  if (data.status) {
    statusLine.host = parentElement;
    statusLine.texts = data.status;
    drawStatus();
    return () => {};
  }
  if (data.stream) {
    stream.element = parentElement;
    stream.askRerun = (lost) => setTriggerValue("lost", lost);
    stream.askEnded = (version) => setTriggerValue("ended", version);
    follow(data);
    return () => { if (!parentElement.isConnected) stream.final = true; };  // the page left the lab
  }
  let c = charts.get(parentElement);
  if (!c) {
    // Create the div once per instance; later renders reuse it (never remount).
    const div = document.createElement("div");
    div.dataset.testid = "dropviz-live-chart";
    div.dataset.updates = "0";
    div.style.width = "100%";
    div.style.height = data.height + "px";
    parentElement.appendChild(div);
    c = { div, next: null, busy: false };
    // Fill the column: follow container width changes, not only window resizes.
    // Only a div still on the page can be resized: Streamlit may just have removed it.
    c.ro = new ResizeObserver(() => {
      if (window.Plotly && c.div._fullLayout && c.div.isConnected) window.Plotly.Plots.resize(c.div).catch(() => {});
    });
    c.ro.observe(div);
    charts.set(parentElement, c);
  }
  c.div.dataset.key = data.key;
  c.div.style.height = data.height + "px";
  byKey.set(data.key, c);
  everShown.add(data.key);
  show(c, data);
  // Streamlit also calls stale cleanups right away when renders race, so only
  // tear down once the element has really left the page.
  return () => {
    if (c.div.isConnected) return;
    if (byKey.get(c.div.dataset.key) === c) byKey.delete(c.div.dataset.key);
    c.ro.disconnect();
    if (window.Plotly) window.Plotly.purge(c.div);
    charts.delete(parentElement);
  };
}
