"""Dashboard pages in a real browser: how long from navigation until each page's views are drawn, and what it sent.

    python bench/pages.py                       # every page twice: not timed whole yet (~25 page views)
    python bench/pages.py --pages Data,Results  # ~5 min on a 2-core CPU at load 13 (two short CLI runs, 8 views)
    python bench/pages.py --pages Home,Results  # only these pages (by their navigation label)
    python bench/pages.py --no-bunny            # the icosphere only (no ../shared/data needed)

Starts `streamlit run app.py` on a free loopback port with its own GINR_CACHE_DIR / GINR_RUNS_DIR (temporary
folders) and GINR_DATA_DIRS=../shared/data, and drives Debian's chromium (Playwright) against it:

1. A fresh visitor opens Home (a new browser, empty cache): `home_first_visit_s`, after a first session has
   warmed the server (its own figure, the server's first session imports the app's modules, is printed too).
2. Every page, reached from the sidebar, on the default workspace (an icosphere, level 4) and, when
   ../shared/data/bunny.ply is there, on the bunny (loaded by the Data page's local file path, analytic signal),
   with the Results page showing a 3-second run of each (trained first with `ginr train`, in the server's registry).
3. The Data page's Gray-Scott texture on the icosphere (30,000 steps): its "About N s" against the time from
   "Generate" to the texture drawn (`gray_scott_s`).

A page counts as drawn when its heading is there, its script run has ended (the app's script state: everything sent),
no element waits for its code (Streamlit's skeletons), every Plotly plot, in the page and in each scene-view frame,
has laid out, and every WebGL canvas has issued a draw call (counted by wrapping getContext / drawArrays /
drawElements in every frame): a condition, not a sleep. Beside the time: when the script run ended (`ran_s`), the websocket bytes the server sent, the HTTP bytes
fetched (plotly.js for a scene view...), the Plotly plots, the live WebGL contexts and the browser's script time.
Timings on a shared machine are noisy: the load average is printed with them. Ends with one JSON line
{"page_s": {page: s}, "results_bunny_s": s, "home_first_visit_s": s, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = {  # navigation label -> the page's heading
    "Home": "GINR Studio", "Data": "Data", "Train": "Train", "Results": "Results",
    "Super-resolution": "Super-resolution", "INR vs GINR": "INR vs GINR", "Interpolation": "Interpolation",
    "Time series": "Time series", "Crop": "Crop", "Collections": "Collections", "Sweeps": "Sweeps",
}
TIMEOUT_S = 180
GRAY_SCOTT_STEPS = 30_000  # the Data page's default: the paper's texture

# Forget which canvases have drawn (in every frame), to time a redraw in place (a new signal in the same view).
FORGET_DRAWN_JS = """() => [document, ...[...document.querySelectorAll('iframe')].map(f => f.contentDocument).filter(Boolean)]
  .forEach(d => d.querySelectorAll('canvas').forEach(c => { c.__drawn = false; }))"""

# Runs in every frame before its own scripts: counts WebGL contexts and marks a canvas once it has drawn.
INSTRUMENT_JS = """(() => {
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const context = getContext.call(this, type, ...rest);
    if (context && /webgl/.test(type)) this.__webgl = true;
    return context;
  };
  for (const proto of [window.WebGLRenderingContext, window.WebGL2RenderingContext].filter(Boolean).map(c => c.prototype)) {
    for (const name of ['drawArrays', 'drawElements']) {
      const draw = proto[name];
      proto[name] = function (...args) { if (this.canvas) this.canvas.__drawn = true; return draw.apply(this, args); };
    }
  }
})();"""

# The page's state, seen from the main frame (the scene views' frames are same-origin).
STATE_JS = """(heading) => {
  const docs = [document, ...[...document.querySelectorAll('iframe')].map(f => { try { return f.contentDocument; } catch (e) { return null; } }).filter(Boolean)];
  const plots = docs.flatMap(d => [...d.querySelectorAll('.js-plotly-plot')]);
  const canvases = docs.flatMap(d => [...d.querySelectorAll('canvas')]).filter(c => c.__webgl);
  const sceneFrames = [...document.querySelectorAll("iframe[title*='scene_view']")];  // scene views and charts
  const headed = [...document.querySelectorAll('h1')].some(h => h.textContent.trim() === heading);
  const app = document.querySelector('[data-testid="stApp"]');
  const ran = headed && app && app.getAttribute('data-test-script-state') === 'notRunning';
  const charts = [...document.querySelectorAll('.stPlotlyChart')];
  const drawn = ran && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]')
    && charts.every(c => { const gd = c.querySelector('.js-plotly-plot'); return gd && gd._fullLayout; })
    && sceneFrames.every(f => { const d = f.contentDocument; const gds = d ? [...d.querySelectorAll('.js-plotly-plot')] : [];
                                return gds.length > 0 && gds.every(gd => gd._fullLayout); })
    && plots.every(gd => !gd._fullLayout || Object.keys(gd._fullLayout).filter(k => /^scene[0-9]*$/.test(k))
                                              .every(k => gd._fullLayout[k]._scene))
    && canvases.every(c => c.__drawn);
  return {ran, drawn, plots: plots.length, webgl: canvases.length};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def train_run(env: dict, *mesh_args: str) -> None:
    """A 3-second fit with the CLI (this checkout's), recorded in the server's registry."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ginr_core.cli", "train", *mesh_args, "--signal", "sines", "--k", "16",
                    "--budget", "3"], cwd=REPO, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL)
    print(f"trained {' '.join(mesh_args)} in {time.perf_counter() - t0:.0f} s", flush=True)


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the Streamlit server did not start")


class Meter:
    """Bytes the page received (websocket frames, HTTP bodies) and the browser's script time, since `reset`."""

    def __init__(self, page, context):
        self.ws_bytes = self.http_bytes = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.send("Performance.enable")
        self.cdp.on("Network.loadingFinished", self._loaded)

    def _frame(self, payload) -> None:
        self.ws_bytes += len(payload)

    def _loaded(self, event) -> None:
        self.http_bytes += event.get("encodedDataLength", 0)

    def script_s(self) -> float:
        return next(m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "ScriptDuration")

    def reset(self) -> None:
        self.ws_bytes = self.http_bytes = 0
        self.script0 = self.script_s()


def wait_drawn(page, meter: Meter, heading: str, t0: float) -> dict:
    """Poll the page until its views are drawn; the times (from t0) and what it took."""
    ran_s = None
    while time.perf_counter() - t0 < TIMEOUT_S:
        state = page.evaluate(STATE_JS, heading)
        now = time.perf_counter() - t0
        if state["ran"] and ran_s is None:
            ran_s = now
        if state["drawn"]:
            return dict(drawn_s=round(now, 2), ran_s=round(ran_s, 2), ws_kb=round(meter.ws_bytes / 1024),
                        http_kb=round(meter.http_bytes / 1024), plots=state["plots"], webgl=state["webgl"],
                        script_s=round(meter.script_s() - meter.script0, 2))
        page.wait_for_timeout(50)
    raise SystemExit(f"{heading}: not drawn within {TIMEOUT_S} s")


def visit(page, meter: Meter, label: str) -> dict:
    """Navigate by the sidebar (the session goes on) and wait for the page to be drawn."""
    page.mouse.move(0, 0)
    meter.reset()
    t0 = time.perf_counter()
    page.locator("[data-testid='stSidebarNav']").get_by_text(label, exact=True).click()
    return wait_drawn(page, meter, PAGES[label], t0)


def open_browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(INSTRUMENT_JS)
    page = context.new_page()
    return browser, page, Meter(page, context)


def load_bunny(page, meter: Meter) -> None:
    """The bunny into the session's workspace: the Data page's local file path, then an analytic signal."""
    visit(page, meter, "Data")
    page.get_by_text("Local file path", exact=True).click()
    page.get_by_placeholder("bunny.ply").fill("bunny.ply")
    page.get_by_placeholder("bunny.ply").press("Enter")
    page.get_by_role("button", name="Load", exact=True).click()
    # What only the run after the load shows (the page keeps the previous run's elements while the next one runs):
    # the bunny's header and no signal yet (a new mesh clears it). Clicking earlier loses the click to that run.
    page.get_by_text("No signal yet").wait_for(timeout=TIMEOUT_S * 1000)
    page.get_by_text("34,834").first.wait_for(timeout=TIMEOUT_S * 1000)
    page.get_by_role("button", name="Use this signal").click()
    page.get_by_text("Signal: analytic").wait_for(timeout=TIMEOUT_S * 1000)
    page.get_by_text("No signal yet").wait_for(state="detached", timeout=TIMEOUT_S * 1000)


def gray_scott_on_data_page(page, meter: Meter) -> dict:
    """The Data page's Gray-Scott texture: its "About N s" against the time from "Generate" to the texture drawn."""
    visit(page, meter, "Data")
    page.get_by_text("Gray-Scott reaction-diffusion", exact=True).click()
    caption = page.get_by_text("About ", exact=False).first
    caption.wait_for(timeout=TIMEOUT_S * 1000)
    estimate = float(re.search(r"About ([0-9.]+) s", caption.inner_text()).group(1))
    page.evaluate(FORGET_DRAWN_JS)
    meter.reset()
    t0 = time.perf_counter()
    page.get_by_role("button", name="Generate").click()
    page.get_by_text(f"Signal: Gray-Scott v after {GRAY_SCOTT_STEPS:,} steps").wait_for(timeout=TIMEOUT_S * 1000)
    return dict(wait_drawn(page, meter, PAGES["Data"], t0), estimate_s=estimate)


def row(name: str, figures: dict) -> str:
    return (f"{name:<28} {figures['drawn_s']:7.2f} {figures['ran_s']:7.2f} {figures['ws_kb']:8,} {figures['http_kb']:8,} "
            f"{figures['plots']:5} {figures['webgl']:5} {figures['script_s']:7.2f}")


HEADER = f"{'page':<28} {'drawn s':>7} {'ran s':>7} {'ws kB':>8} {'http kB':>8} {'plots':>5} {'webgl':>5} {'js s':>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated navigation labels (default: all)")
    parser.add_argument("--no-bunny", action="store_true", help="skip the bunny (also skipped without --data/bunny.ply)")
    parser.add_argument("--data", type=Path, default=DATA, help="the folder holding bunny.ply (default ../shared/data)")
    args = parser.parse_args()
    labels = [label.strip() for label in args.pages.split(",")]
    unknown = [label for label in labels if label not in PAGES]
    if unknown:
        parser.error(f"unknown pages {unknown}; choose from {list(PAGES)}")
    bunny = not args.no_bunny and (args.data / "bunny.ply").is_file()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="ginr-bench-pages-"))
    env = {**os.environ, "GINR_CACHE_DIR": str(tmp / "cache"), "GINR_RUNS_DIR": str(tmp / "runs"),
           "GINR_DATA_DIRS": str(args.data)}
    env.pop("GINR_BACKEND", None)
    print(f"load average {load()} (1, 5, 15 min)", flush=True)
    train_run(env, "--domain", "icosphere")
    server, url = start_server(env)
    results: dict[str, dict] = {}
    try:
        with sync_playwright() as p:
            print(f"\nload average {load()}\n{HEADER}", flush=True)
            for name in ("Home (server's first session)", "Home (first visit)"):  # the first imports the app's modules
                browser, page, meter = open_browser(p)  # a fresh visitor: new browser, empty cache
                meter.reset()
                t0 = time.perf_counter()
                page.goto(url)
                results[name] = wait_drawn(page, meter, PAGES["Home"], t0)
                print(row(name, results[name]), flush=True)
                if name != "Home (first visit)":
                    browser.close()
            for label in labels:
                results[label] = visit(page, meter, label)
                print(row(label, results[label]), flush=True)
            results["Gray-Scott (Data page)"] = gray_scott_on_data_page(page, meter)
            print(row("Gray-Scott (Data page)", results["Gray-Scott (Data page)"])
                  + f"   estimate {results['Gray-Scott (Data page)']['estimate_s']:.0f} s", flush=True)
            if bunny:
                train_run(env, "--mesh", str(args.data / "bunny.ply"))  # the newest run: the one Results shows
                browser.close()  # a new session: the last one keeps showing the run it watched (the icosphere's)
                browser, page, meter = open_browser(p)
                meter.reset()
                page.goto(url)
                wait_drawn(page, meter, PAGES["Home"], time.perf_counter())
                load_bunny(page, meter)
                print(f"load average {load()}", flush=True)
                for label in labels:
                    results[f"{label} (bunny)"] = visit(page, meter, label)
                    print(row(f"{label} (bunny)", results[f"{label} (bunny)"]), flush=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"load average {load()}", flush=True)
    print(json.dumps({
        "page_s": {label: results[label]["drawn_s"] for label in labels},
        "page_bunny_s": {label: results[f"{label} (bunny)"]["drawn_s"] for label in labels} if bunny else None,
        "results_bunny_s": results["Results (bunny)"]["drawn_s"] if bunny and "Results" in labels else None,
        "home_first_visit_s": results["Home (first visit)"]["drawn_s"],
        "gray_scott_s": {key: results["Gray-Scott (Data page)"][key] for key in ("estimate_s", "drawn_s")},
        "details": results,
        "load_average": load(),
    }))


if __name__ == "__main__":
    main()
