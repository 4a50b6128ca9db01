"""How fast the served workbench browses, measured in a real headless Chromium.

    python bench/ui_bench.py --demo                    # the demo dataset, built in a temp dir
    python bench/ui_bench.py --frames 1000000          # a synthetic catalog (bench/synthetic.py)
    python bench/ui_bench.py --catalog PATH            # any catalog file
    python bench/ui_bench.py --url URL --server-pid N  # a server that is already running
    python bench/ui_bench.py --catalog PATH --first-document 4   # in process, no browser
    python bench/ui_bench.py --demo --first-loads 5    # the first page after a server start

It starts `workbench serve` (unless --url is given), opens the app in Debian's Chromium
driven by playwright, and measures what a person waits for:

  interactive   page load until the grid's tiles are on screen and Bokeh is idle  (< 1.5 s)
  interactive_page  the same in the page's own clock (from navigation start, without
                playwright's round trips)
  complete      page load until the parts added after it (actions, runs, the other
                filters) are there too and Bokeh is idle; the measures below start then
  query         new WHERE applied until the page of tiles is redrawn              (< 300 ms)
  page          next/previous page until the tiles are redrawn                    (< 300 ms)
                (--page-dwell S: the page is looked at S seconds before each change, as a
                person does; by default it is turned at once)
  page_paint    the same page change from input to paint, in the page's own clock: from the
                click's pointerdown until two animation frames after the grid redrew
  frame_step    player next/previous until the viewer has drawn the new frame and Bokeh is
                idle, in wall time: with playwright's click (it waits two animation frames
                for the button to be still) and its round trips, which a person does not wait for
  frame_step_paint  the same step from input to paint, in the page's own clock: from the
                click's event.timeStamp until the first animation frame after the viewer
                drew the new frame has been painted: what a person sees        (< 100 ms)
  key_step, key_step_paint      the same for the arrow keys (from the keydown)
  match_step, match_step_paint  the same for ◀ match / match ▶ (under the WHERE in force)
  playback      frames drawn per second while playing a context (from pressing play until
                it stops at the context's last frame, at most 4 s), against the footage's
                own rate (the player's); target: the footage's rate (up to 30)
  server_rss    the server's peak resident memory (VmHWM) after the session       (< 1 GB)
  interactive_again  the page loaded again in the same tab at the end (the browser's cache
                warm: a person's next visit)

--first-loads N starts a new server N times and times only its first page (interactive and
complete, with the server's CPU over each), which the other measures leave out (they start
after an uncounted first load), then a second page in a new tab (`second_load`) for
comparison; `first_load_startup` is the time and the server's CPU from its start until it
said it serves (what it does before the first request).

--first-document builds the app's first document as a served session does, in this process
(no server, no browser), and prints its CPU time, models and JSON bytes, the best of N.

Each wait ends when the DOM shows the change and Bokeh has no message in flight, then one
animation frame more so the browser has painted it. Results are printed as a table and, with
--json, written to a file (docs/benchmarks.md records them with the command that made them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGETS_MS = {
    "interactive": 1500.0,
    "interactive_page": 1500.0,
    "interactive_again": 1500.0,
    "first_load": 1500.0,
    "second_load": 1500.0,
    "query": 300.0,
    "page": 300.0,
    "page_paint": 300.0,
    "frame_step": 100.0,
    "frame_step_paint": 100.0,
    "key_step": 100.0,
    "key_step_paint": 100.0,
    "match_step": 100.0,
    "match_step_paint": 100.0,
}
PLAYBACK_SECONDS = 4.0
# Playback keeps up when it draws at least this share of the footage's frames.
PLAYBACK_SHARE = 0.9
RSS_TARGET_MB = 1024.0
TIMEOUT_MS = 60_000

# Panel draws every component in its own shadow root; these helpers search through them.
# They are installed in every page before its scripts run.
_HELPERS_JS = """
window.__wb = {
  find(selector) {
    const roots = [document];
    while (roots.length) {
      const root = roots.pop();
      const hit = root.querySelector(selector);
      if (hit) return hit;
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    return null;
  },
  idle() {
    return window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle;
  },
  grid() {
    const root = this.find('div.wb-grid-root');
    if (!root) return null;
    return {version: root.dataset.version, tiles: root.querySelectorAll('.wb-tile').length,
            total: Number(root.dataset.total), page: Number(root.dataset.page),
            mode: root.dataset.mode};
  },
  text(selector) {
    // textContent stops at shadow roots, and Panel panes keep their text inside one.
    const deep = (node) => {
      if (node.nodeType === Node.TEXT_NODE) return node.textContent;
      if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return '';
      let text = node.shadowRoot ? deep(node.shadowRoot) : '';
      for (const child of node.childNodes) text += deep(child);
      return text;
    };
    const el = this.find(selector);
    return el ? deep(el).trim() : null;
  },
  painted() {
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  },
  viewer() {
    // The viewer's drawing (workbench/ui/frame_view.js): the frame it drew last, and how
    // many frames it has drawn (a frame is drawn once its picture is decoded).
    const root = this.find('div.wb-frame-root');
    return root ? {frame: root.dataset.frame ?? '', drawn: Number(root.dataset.drawn ?? 0)} : null;
  },
  labelFrame() {
    // The frame id the player's label names ("frame i / n · <id>").
    const label = this.text('.wb-frame-label') ?? '';
    const at = label.indexOf(' · ');
    return at < 0 ? null : label.slice(at + 3);
  },
  stepped(before) {
    // The label moved on, and the viewer has drawn the frame it names.
    return this.idle() && this.text('.wb-frame-label') !== before
      && this.viewer()?.frame === this.labelFrame();
  },
  armPaint(before, type) {
    // A step from input to paint, in the page's own clock, in window.__wbPaintMs: from the
    // input event's timeStamp (the click, the keydown) until the first animation frame after
    // the viewer drew the frame the label names has run and the browser has painted it (a
    // task queued from that frame's requestAnimationFrame runs after its paint).
    window.__wbPaintMs = null;
    let start = null;
    // On the window, capturing: before any of the page's own listeners (the viewer's, on
    // the document, may draw the step before a later listener hears the event).
    window.addEventListener(type, (event) => { start = event.timeStamp; },
                            {capture: true, once: true});
    const root = this.find('div.wb-frame-root');
    const observer = new MutationObserver(() => {
      const label = this.text('.wb-frame-label');
      if (start === null || label === before || this.viewer()?.frame !== this.labelFrame()) return;
      observer.disconnect();
      requestAnimationFrame(() => {
        const after = new MessageChannel();
        after.port1.onmessage = () => { window.__wbPaintMs = performance.now() - start; };
        after.port2.postMessage(null);
      });
    });
    observer.observe(root, {attributes: true, attributeFilter: ['data-drawn']});
  },
  armGridPaint() {
    // A page change from input to paint, in the page's own clock, in window.__wbGridPaintMs:
    // from the pointerdown until two animation frames after the grid redrew (data-version).
    window.__wbGridPaintMs = null;
    let start = null;
    window.addEventListener('pointerdown', (event) => { start = event.timeStamp; },
                            {capture: true, once: true});
    const observer = new MutationObserver(() => {
      if (start === null) return;
      observer.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__wbGridPaintMs = performance.now() - start;
      }));
    });
    observer.observe(this.find('div.wb-grid-root'),
                     {attributes: true, attributeFilter: ['data-version']});
  },
  playerModel() {
    // The play controls' properties: a component of our own keeps them in its `data`.
    const model = [...Bokeh.documents[0].all_models]
      .find((m) => (m.css_classes || []).includes('wb-player'));
    return model && model.data ? model.data : model;
  },
  countFrames(seconds) {
    // Frames drawn per second by the viewer (a new frame on screen, read at every animation
    // frame) while playing: until the player has stopped (at the context's last frame) and
    // nothing more was drawn for 300 ms, or `seconds` have passed.
    const player = this.playerModel();
    return new Promise((resolve) => {
      let last = this.viewer()?.frame ?? '';
      let changes = 0;
      const start = performance.now();
      let lastAt = start;
      const poll = () => {
        const now = performance.now();
        const frame = this.viewer()?.frame ?? '';
        if (frame !== last) { changes += 1; last = frame; lastAt = now; }
        const stopped = Number(player?.direction ?? 0) === 0 && now - lastAt > 300;
        if (stopped || now - start >= seconds * 1000) {
          resolve({changes, seconds: ((stopped ? lastAt : now) - start) / 1000});
        } else requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    });
  },
};
// "interactive" in the page's own clock (ms since navigation started), without playwright's
// round trips: the first animation frame with tiles on screen and Bokeh idle.
window.__wbLoadAt = null;
(function poll() {
  try {
    if (__wb.idle() && (__wb.grid()?.tiles ?? 0) > 0) { window.__wbLoadAt = performance.now(); return; }
  } catch (e) {}
  requestAnimationFrame(poll);
})();
"""


@dataclass(frozen=True)
class Timing:
    """One timed action: wall time, and the server process's CPU time over the same span
    (all its threads; None when the server is not ours to watch)."""

    wall_ms: float
    server_cpu_ms: float | None


@dataclass
class Figures:
    catalog: str
    frames: int | None
    iterations: int
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    server_cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    server_rss_mb: float | None = None
    server_hwm_mb: float | None = None
    tiles_per_page: int | None = None
    page_mode: str | None = None
    # Seconds the page is looked at before each timed page change (--page-dwell).
    page_dwell_s: float = 0.0
    # The 1-minute load average before and after: on a busy 2-core machine it explains a lot.
    load_average: list[float] = field(default_factory=list)
    # (frames drawn per second, the footage's frames per second) per playback
    playback: list[tuple[float, float]] = field(default_factory=list)
    # the server's CPU ms per frame drawn while playing, per playback
    playback_cpu_ms: list[float] = field(default_factory=list)

    def add(self, name: str, timing: Timing) -> None:
        self.samples_ms.setdefault(name, []).append(round(timing.wall_ms, 1))
        if timing.server_cpu_ms is not None:
            self.server_cpu_ms.setdefault(name, []).append(round(timing.server_cpu_ms, 1))

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, samples in self.samples_ms.items():
            out[name] = {
                "n": len(samples),
                "median_ms": round(statistics.median(samples), 1),
                "max_ms": max(samples),
                "target_ms": TARGETS_MS.get(name, float("nan")),
            }
            cpu = self.server_cpu_ms.get(name)
            if cpu:
                out[name]["server_cpu_median_ms"] = round(statistics.median(cpu), 1)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}

    def table(self) -> str:
        lines = [
            f"catalog {self.catalog} ({self.frames or '?'} frames), "
            f"{self.iterations} iteration(s), {self.tiles_per_page} tiles per page, "
            f"paged in {self.page_mode} mode"
            + (
                f", {self.page_dwell_s:g} s on a page before turning it"
                if self.page_dwell_s
                else ""
            ),
            f"{'measure':<16} {'n':>3} {'median ms':>10} {'max ms':>9} {'target':>8}  ok"
            f"  {'server CPU ms':>13}",
        ]
        for name, row in self.summary().items():
            ok = "yes" if row["median_ms"] < row["target_ms"] else "NO "
            cpu = row.get("server_cpu_median_ms")
            lines.append(
                f"{name:<16} {row['n']:>3} {row['median_ms']:>10.1f} "
                f"{row['max_ms']:>9.1f} {row['target_ms']:>8.0f}  {ok}"
                f"  {'-' if cpu is None else f'{cpu:.0f}':>13}"
            )
        if self.playback:
            drawn = statistics.median(d for d, _ in self.playback)
            footage = statistics.median(f for _, f in self.playback)
            ok = "yes" if drawn >= PLAYBACK_SHARE * footage else "NO "
            cpu = (
                f", server CPU {statistics.median(self.playback_cpu_ms):.1f} ms per frame drawn"
                if self.playback_cpu_ms
                else ""
            )
            lines.append(
                f"{'playback':<12} {len(self.playback):>3} {drawn:>7.1f} fps drawn of "
                f"{footage:.1f} fps footage ({drawn / footage:.0%})  {ok}{cpu}"
            )
        if self.load_average:
            lines.append("load average before/after: " + " / ".join(map(str, self.load_average)))
        if self.server_hwm_mb is not None:
            ok = "yes" if self.server_hwm_mb < RSS_TARGET_MB else "NO"
            lines.append(
                f"{'server_rss':<12} peak {self.server_hwm_mb:.0f} MB, now "
                f"{self.server_rss_mb:.0f} MB (target < {RSS_TARGET_MB:.0f} MB)  {ok}"
            )
        return "\n".join(lines)


def process_cpu_ms(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def process_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc/<pid>/status."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values["VmRSS"], values["VmHWM"]


# -- the server -------------------------------------------------------------------------------


@contextmanager
def served(catalog: Path) -> Iterator[tuple[str, int]]:
    """Run `workbench serve` on a free port; yields (url, pid) and stops it with SIGTERM."""
    log_path = catalog.with_name(catalog.stem + "-bench-serve.log")
    command = [sys.executable, "-m", "workbench.cli", "serve", "--catalog", str(catalog)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield _wait_for_url(process, log_path), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(process: subprocess.Popen[bytes], log_path: Path, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(
            r"Serving workbench on (http://\S+)", log_path.read_text("utf-8", "replace")
        )
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError("workbench serve did not start:\n" + log_path.read_text("utf-8", "replace"))


# -- the browser ------------------------------------------------------------------------------


class Session:
    """One browser tab on the app, with timed actions."""

    def __init__(self, browser: Any, url: str, server_pid: int | None) -> None:
        self.url = url
        self.server_pid = server_pid
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000})
        self.context.add_init_script(_HELPERS_JS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def close(self) -> None:
        self.context.close()

    def wait(self, condition_js: str, arg: Any = None) -> None:
        self.page.wait_for_function(condition_js, arg=arg, timeout=TIMEOUT_MS, polling="raf")
        self.page.evaluate("() => __wb.painted()")

    def timed(self, action: Callable[[], None], condition_js: str, arg: Any = None) -> Timing:
        """Run `action`, wait for `condition_js`, and time the span."""
        cpu = process_cpu_ms(self.server_pid) if self.server_pid else None
        start = time.perf_counter()
        action()
        self.wait(condition_js, arg)
        wall = (time.perf_counter() - start) * 1000
        if cpu is not None and self.server_pid:
            cpu = process_cpu_ms(self.server_pid) - cpu
        return Timing(wall, cpu)

    def load(self) -> Timing:
        """From navigation until the first page of tiles is drawn and Bokeh is idle."""
        return self.timed(
            lambda: self.page.goto(self.url, wait_until="commit", timeout=TIMEOUT_MS),
            "() => __wb.idle() && (__wb.grid()?.tiles ?? 0) > 0",
        )

    def complete(self, started: float, cpu: float | None) -> Timing:
        """From navigation (at `started`) until the parts added once the page is on screen
        are there and Bokeh is idle."""
        self.wait("() => __wb.idle() && __wb.find('.wb-runs') !== null")
        wall = (time.perf_counter() - started) * 1000
        if cpu is not None and self.server_pid:
            cpu = process_cpu_ms(self.server_pid) - cpu
        return Timing(wall, cpu)

    def grid(self) -> dict[str, Any]:
        return dict(self.page.evaluate("() => __wb.grid()"))

    def timed_grid_change(self, action: Callable[[], None]) -> Timing:
        """From `action` until the grid has been redrawn and Bokeh is idle."""
        return self.timed(
            action,
            "(v) => __wb.idle() && __wb.grid() !== null && __wb.grid().version !== v",
            self.grid()["version"],
        )

    def click(self, selector: str) -> None:
        self.page.locator(selector).first.click()

    def set_query(self, where: str) -> None:
        box = self.page.locator(".wb-where input").first
        box.fill(where)
        box.press("Enter")

    def open_first_tile(self) -> None:
        """Click the first tile and wait until it is the active one and the player shows a
        frame (the app opens the first context on load, so the label alone cannot tell the
        tile's answer from what was there before)."""
        self.click(".wb-tile")
        self.wait(
            "() => __wb.idle() && __wb.find('.wb-tile')?.classList.contains('wb-active')"
            " && /^frame \\d+ \\/ \\d+/.test(__wb.text('.wb-frame-label') ?? '')"
        )

    def playback(self) -> tuple[float, float, float | None]:
        """Play the open context from its first frame: (frames drawn per second, the
        footage's frames per second as the player plays them, the server's CPU ms per
        frame drawn)."""
        footage = 1000.0 / float(self.page.evaluate("() => __wb.playerModel().interval"))
        cpu = process_cpu_ms(self.server_pid) if self.server_pid else None
        self.page.evaluate("() => { __wb.playerModel().direction = 1; }")
        counted = self.page.evaluate(f"() => __wb.countFrames({PLAYBACK_SECONDS})")
        self.page.evaluate("() => { __wb.playerModel().direction = 0; }")
        if cpu is not None and self.server_pid:
            cpu = (process_cpu_ms(self.server_pid) - cpu) / max(counted["changes"], 1)
        self.wait("() => __wb.idle()")
        return counted["changes"] / counted["seconds"], footage, cpu

    def timed_frame_step(self, press: Callable[[], None], event: str) -> tuple[Timing, Timing]:
        """From `press` (a click on a player's button, a key) until the viewer has drawn the
        frame the label names (its picture decoded) and Bokeh is idle, in wall time (with
        playwright's waits and round trips); and from the input `event`'s timeStamp until
        that frame is painted, in the page's own clock (armPaint)."""
        before = self.page.evaluate("() => __wb.text('.wb-frame-label')")
        self.page.evaluate("([t, e]) => __wb.armPaint(t, e)", [before, event])
        wall = self.timed(press, "(t) => __wb.stepped(t)", before)
        self.page.wait_for_function("() => window.__wbPaintMs !== null", timeout=TIMEOUT_MS)
        return wall, Timing(float(self.page.evaluate("() => window.__wbPaintMs")), None)

    def steps(self, figures: Figures) -> None:
        """Frame steps by the player's buttons, the arrow keys and the match buttons, each
        forwards and back twice."""
        presses: list[tuple[str, Callable[[], None], str]] = []
        for _ in range(2):
            presses += [
                ("frame_step", lambda: self.click(".wb-next button"), "click"),
                ("frame_step", lambda: self.click(".wb-prev button"), "click"),
            ]
        for _ in range(2):
            presses += [
                ("key_step", lambda: self.page.keyboard.press("ArrowRight"), "keydown"),
                ("key_step", lambda: self.page.keyboard.press("ArrowLeft"), "keydown"),
            ]
        for _ in range(2):
            presses += [
                ("match_step", lambda: self.click(".wb-next-match button"), "click"),
                ("match_step", lambda: self.click(".wb-prev-match button"), "click"),
            ]
        for name, press, event in presses:
            wall, paint = self.timed_frame_step(press, event)
            figures.add(name, wall)
            figures.add(f"{name}_paint", paint)


def run(url: str, server_pid: int | None, figures: Figures, queries: tuple[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    figures.load_average.append(round(os.getloadavg()[0], 2))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # A first load warms the server's imports and caches, as a person's first visit
            # after `workbench serve` would; it is not counted.
            warm_up = Session(browser, url, None)
            warm_up.load()
            warm_up.close()
            for _ in range(figures.iterations):
                session = Session(browser, url, server_pid)
                try:
                    _one_session(session, figures, queries)
                finally:
                    session.close()
        finally:
            browser.close()
    figures.load_average.append(round(os.getloadavg()[0], 2))
    if server_pid is not None:
        figures.server_rss_mb, figures.server_hwm_mb = process_memory_mb(server_pid)


def first_loads(catalog: Path, figures: Figures, loads: int) -> None:
    """The first page of `loads` servers, each started for it: what the first person to
    open the app after `workbench serve` waits for."""
    from playwright.sync_api import sync_playwright

    figures.load_average.append(round(os.getloadavg()[0], 2))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(loads):
                start = time.perf_counter()
                with served(catalog) as (url, pid):
                    startup = (time.perf_counter() - start) * 1000
                    figures.add("first_load_startup", Timing(startup, process_cpu_ms(pid)))
                    for name in ("first_load", "second_load"):
                        session = Session(browser, url, pid)
                        try:
                            cpu = process_cpu_ms(pid)
                            started = time.perf_counter()
                            figures.add(name, session.load())
                            figures.add(f"{name}_complete", session.complete(started, cpu))
                        finally:
                            session.close()
        finally:
            browser.close()
    figures.load_average.append(round(os.getloadavg()[0], 2))


def _one_session(session: Session, figures: Figures, queries: tuple[str, str]) -> None:
    cpu = process_cpu_ms(session.server_pid) if session.server_pid else None
    started = time.perf_counter()
    figures.add("interactive", session.load())
    at = session.page.evaluate("() => window.__wbLoadAt")
    if at is not None:
        figures.add("interactive_page", Timing(float(at), None))
    figures.add("complete", session.complete(started, cpu))
    figures.tiles_per_page = session.grid()["tiles"]
    for where in queries:
        figures.add("query", session.timed_grid_change(lambda w=where: session.set_query(w)))
    session.timed_grid_change(lambda: session.set_query(""))
    if session.grid()["total"] <= figures.tiles_per_page:
        # Too few contexts for a second page (the demo has nine): page through frames.
        session.timed_grid_change(
            lambda: session.page.locator(".wb-grid-mode button", has_text="frames").click()
        )
    figures.page_mode = session.grid()["mode"]
    for button in (".wb-page-next button", ".wb-page-prev button"):
        time.sleep(figures.page_dwell_s)  # as a person looks at a page before turning it
        session.page.evaluate("() => __wb.armGridPaint()")
        figures.add("page", session.timed_grid_change(lambda b=button: session.click(b)))
        session.page.wait_for_function("() => window.__wbGridPaintMs !== null", timeout=TIMEOUT_MS)
        paint = float(session.page.evaluate("() => window.__wbGridPaintMs"))
        figures.add("page_paint", Timing(paint, None))
    session.open_first_tile()
    session.steps(figures)
    drawn, footage, cpu = session.playback()
    figures.playback.append((round(drawn, 2), round(footage, 2)))
    if cpu is not None:
        figures.playback_cpu_ms.append(round(cpu, 2))
    # The same page loaded again in the same tab: what the browser keeps (scripts, styles,
    # our modules) is not fetched again, as on a person's next visit.
    figures.add("interactive_again", session.load())
    if session.errors:
        raise RuntimeError("the page raised errors: " + "; ".join(session.errors))


# -- catalogs ---------------------------------------------------------------------------------


def demo_catalog(folder: Path) -> Path:
    import workbench
    from workbench.demo import build_demo

    path = folder / "demo.duckdb"
    if not path.exists():  # the same seed always builds the same demo: reuse it
        with workbench.open(path) as catalog:
            build_demo(catalog, media_dir=folder / "media", seed=7, progress=False)
    return path


def synthetic_catalog(folder: Path, frames: int) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    import synthetic  # bench/synthetic.py

    path = folder / f"synthetic-{frames}.duckdb"
    if not path.exists():
        files = synthetic.generate(folder / f"synthetic-{frames}-parquet", frames)
        # The Parquet importer, as a person would load them: it also makes the keys and
        # per-frame summaries the app's queries read (a bare INSERT would leave them out).
        synthetic.ingest(files.folder, path, method="importer")
    return path


def frame_count(catalog: Path) -> int:
    import workbench

    # Read-write, as the server will open it: an older catalog is migrated here first.
    with workbench.open(catalog) as opened:
        return int(opened.cursor().execute("SELECT count(*) FROM frames").fetchall()[0][0])


class _Session:
    """What a served session's context says of itself, as much as the app asks."""

    def __init__(self, server: Any) -> None:
        self.id, self.server_context, self.destroyed = "bench", server, False
        self.request = SimpleNamespace(arguments={}, cookies={}, headers={})


def first_document(catalog_path: Path, rounds: int) -> dict[str, Any]:
    """The app's first document as a served session builds it, in this process: CPU ms to
    build the app and its Bokeh models, CPU ms to serialise them (what the page pulls over
    the websocket), then the CPU of the parts added once the page is on screen (`later_ms`) and
    of the background work started (facets, marks, read-ahead), the models and the JSON's bytes, and how many of those bytes
    are our components' JS and CSS (sent inline instead of fetched as files).

    `cold` is the first session (nothing shared yet, workbench/ui/shared.py), `warm` the
    best of the `rounds` sessions after it. The catalog is opened read-only.

    A served session is imitated by a document whose session context says it is served:
    the parts added once the page is on screen are then left out, and Panel writes the URLs
    it serves instead of inlining what it can serve."""
    import weakref

    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc
    from tornado.ioloop import IOLoop

    import workbench
    from workbench.ui.app import create_app
    from workbench.ui.media import RecentRoots, ServedMediaUrls

    try:
        from workbench.ui.background import wait_idle
    except ImportError:  # an older version of the app (a "before" checkout)

        def wait_idle(timeout: float) -> bool:
            time.sleep(3)
            return True

    ours = [p.read_text() for p in Path(workbench.__file__).parent.joinpath("ui").glob("*.[jc]s*")]
    runs: list[dict[str, Any]] = []
    application = SimpleNamespace(io_loop=IOLoop(make_current=False))
    with workbench.open(catalog_path, read_only=True) as catalog:
        media = ServedMediaUrls("/media", roots=RecentRoots(catalog.media_roots))
        for _ in range(rounds + 1):
            doc = Document()
            server = SimpleNamespace(application_context=application, sessions=[])
            context = _Session(server)
            doc._session_context = weakref.ref(context)  # type: ignore[assignment]
            with set_curdoc(doc):
                start = time.process_time()
                app = create_app(catalog, media)
                built = time.process_time()
                pn.panel(app).server_doc(doc)
                modelled = time.process_time()
                text = json.dumps(doc.to_json(deferred=False))
                done = time.process_time()
                first_models = list(doc.models)
                # what comes once the page is on screen (later.py), as the browser's first
                # message would run it (the patch it makes is not serialised here)
                pn.state._on_load(doc)
                _run_next_ticks(doc)  # Panel builds the added parts' models in those
                later = time.process_time()
            # the facets, marks and read-ahead it started, counted apart: the server's
            # loop runs here until they are done and their answers applied
            application.io_loop.run_sync(lambda: _settled(wait_idle), timeout=120)
            background = time.process_time() - later
            # modules sent in the models (a URL when served from the package), per model
            inline = sum(len(getattr(m, "esm", "") or "") for m in first_models)
            styles = sum(
                len(sheet) for m in first_models for sheet in getattr(m, "stylesheets", [])
                if isinstance(sheet, str) and sheet in ours
            )  # fmt: skip
            runs.append({
                "create_app_ms": round((built - start) * 1000, 1),
                "models_ms": round((modelled - built) * 1000, 1),
                "json_ms": round((done - modelled) * 1000, 1),
                "cpu_ms": round((done - start) * 1000, 1),
                "later_ms": round((later - done) * 1000, 1),
                "background_ms": round(background * 1000, 1),
                "models": len(first_models),
                "models_with_later": len(doc.models),
                "json_bytes": len(text.encode()),
                "module_bytes": inline,
                "our_css_inline_bytes": styles,
            })  # fmt: skip
            doc.clear()
    return {"cold": runs[0], "warm": min(runs[1:], key=lambda r: r["cpu_ms"])}


def _run_next_ticks(doc: Any) -> None:
    """Run the document's next-tick callbacks, as a served session's loop would."""
    from bokeh.server.callbacks import NextTickCallback

    for _ in range(10):
        due = [c for c in doc.session_callbacks if isinstance(c, NextTickCallback)]
        if not due:
            return
        for callback in due:
            doc.remove_next_tick_callback(callback)
            callback.callback()


async def _settled(idle: Callable[[float], bool]) -> None:
    import asyncio

    while not idle(0):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # the answers' callbacks on the loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="build the demo catalog and use it")
    source.add_argument("--frames", type=int, help="build a synthetic catalog of N frames")
    source.add_argument("--catalog", type=Path, help="an existing catalog file")
    source.add_argument("--url", help="an already running server (see --server-pid)")
    parser.add_argument("--server-pid", type=int, help="pid of the --url server, for its RSS")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--workdir", type=Path, help="where to build catalogs (default: temp)")
    parser.add_argument(
        "--query",
        nargs=2,
        metavar="WHERE",
        default=["f.frame_index % 2 = 0", "f.frame_index % 2 = 1"],
        help="two WHERE clauses to alternate between",
    )
    parser.add_argument(
        "--page-dwell",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="look at each page this long before the next timed page change (default: none)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--first-loads",
        type=int,
        metavar="N",
        help="only time the first page of N servers, each started for it",
    )
    parser.add_argument(
        "--first-document",
        type=int,
        metavar="ROUNDS",
        help="only build the app's first document in this process ROUNDS times (--catalog)",
    )
    args = parser.parse_args(argv)
    if args.first_document:
        if args.catalog is None:
            parser.error("--first-document needs --catalog")
        print(json.dumps(first_document(args.catalog, args.first_document)))
        return 0
    if args.first_loads and args.url:
        parser.error("--first-loads starts its own servers: give --demo, --frames or --catalog")

    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.url:
            figures = Figures(args.url, None, args.iterations, page_dwell_s=args.page_dwell)
            run(args.url, args.server_pid, figures, tuple(args.query))
        else:
            if args.demo:
                catalog = demo_catalog(workdir)
            elif args.frames:
                catalog = synthetic_catalog(workdir, args.frames)
            else:
                catalog = args.catalog
            figures = Figures(
                str(catalog), frame_count(catalog), args.iterations, page_dwell_s=args.page_dwell
            )
            if args.first_loads:
                figures.iterations = args.first_loads
                first_loads(catalog, figures, args.first_loads)
            else:
                with served(catalog) as (url, pid):
                    run(url, pid, figures, tuple(args.query))
    print(figures.table())
    if args.json:
        args.json.write_text(json.dumps(figures.as_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
