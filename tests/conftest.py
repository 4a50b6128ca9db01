"""Fixtures every test package shares: small real catalogs from named recipes
(`make_catalog`, `catalog_templates`; see tests/catalogs.py), a real `workbench serve`
process and a real headless Chromium.

The served process is the same one a person starts (`python -m workbench.cli serve`): it is
started on a free port, waited for until /liveness answers 200, and stopped with SIGTERM at
the end. Chromium is Debian's /usr/bin/chromium driven by playwright (never a downloaded
build); the browser tests skip when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.catalogs import CatalogFactory

REPO = Path(__file__).resolve().parents[1]
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
ARTIFACTS = REPO / "test-artifacts"
# Three of the demo's contexts (zurich, amsterdam and its planted duplicate): 180 frames,
# enough for several pages in frames mode, and a fraction of the full demo's build time.
DEMO_CONTEXTS = ("zurich-0005", "amsterdam-0008")
_URL_LINE = re.compile(r"Serving workbench on (http://\S+)")


@dataclass
class ServedApp:
    """A running `workbench serve` process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    client: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the server closes its catalog and exits
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(catalog: Path, log_path: Path, *args: str, timeout: float = 90) -> ServedApp:
    """Start `workbench serve` on `catalog` and wait until it answers HTTP 200."""
    command = [sys.executable, "-m", "workbench.cli", "serve", "--catalog", str(catalog)]
    command += ["--port", "0", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOKEH_BROWSER": "none"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    deadline = time.monotonic() + timeout
    url = None
    while url is None:
        if process.poll() is not None:
            raise RuntimeError(
                f"workbench serve exited with {process.returncode}:\n"
                + log_path.read_text(errors="replace")
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=15)
            raise RuntimeError("workbench serve did not start:\n" + log_path.read_text())
        found = _URL_LINE.search(log_path.read_text(errors="replace"))
        url = found.group(1) if found else None
        time.sleep(0.05)
    served = ServedApp(url, process, log_path)
    while True:
        try:
            if served.get("/liveness").status_code == 200:
                return served
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise RuntimeError("workbench serve never answered /liveness:\n" + served.log())
        time.sleep(0.05)


@pytest.fixture(scope="session")
def catalog_templates(tmp_path_factory: pytest.TempPathFactory) -> CatalogFactory:
    """Every recipe's template, built once per session on first use (module-scoped
    fixtures copy from it: `catalog_templates.open("ui", folder)`)."""
    return CatalogFactory(tmp_path_factory.mktemp("catalogs"))


@pytest.fixture
def make_catalog(catalog_templates: CatalogFactory, tmp_path: Path) -> Iterator[Any]:
    """`make_catalog("ui")`: a small real catalog of that recipe in this test's tmp_path,
    open (a writable copy of the session's template; see tests/catalogs.py). Closed after
    the test."""
    opened: list[Any] = []

    def make(recipe: str, **options: Any) -> Any:
        catalog = catalog_templates.open(recipe, tmp_path, **options)
        opened.append(catalog)
        return catalog

    try:
        yield make
    finally:
        for catalog in opened:
            catalog.close()


@pytest.fixture(scope="session")
def serve_catalog() -> Iterator[Any]:
    """A function that starts `workbench serve` on a catalog; every server stops at the end."""
    started: list[ServedApp] = []

    def start(catalog: Path, *args: str) -> ServedApp:
        log_path = catalog.with_name(f"{catalog.stem}-serve-{len(started)}.log")
        served = start_server(catalog, log_path, *args)
        started.append(served)
        return served

    try:
        yield start
    finally:
        for served in started:
            served.stop()


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Part of the demo dataset (build_demo), built once per test session in a temp folder."""
    import workbench
    from workbench.demo import build_demo

    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.duckdb"
    with workbench.open(path) as catalog:
        build_demo(
            catalog, media_dir=folder / "media", seed=7, progress=False, contexts=DEMO_CONTEXTS
        )
    # A second copy, made before any server holds the first open, for tests that need a
    # server of their own (a DuckDB file is opened by one process at a time).
    shutil.copyfile(path, folder / "spare.duckdb")
    return path


@pytest.fixture(scope="session")
def spare_demo_catalog(demo_catalog: Path) -> Path:
    """Another copy of the demo catalog, free for a second server process."""
    return demo_catalog.with_name("spare.duckdb")


@pytest.fixture(scope="session")
def demo_server(demo_catalog: Path, serve_catalog: Any) -> ServedApp:
    """`workbench serve` on the demo catalog, shared by the browser tests."""
    return serve_catalog(demo_catalog)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (run .ci/system-deps)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


_DEEP_TEXT_JS = """(selector) => {
  const roots = [document];
  let found = null;
  while (roots.length && found === null) {
    const root = roots.pop();
    found = root.querySelector(selector);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
  }
  const deep = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return '';
    let text = node.shadowRoot ? deep(node.shadowRoot) : '';
    for (const child of node.childNodes) text += deep(child);
    return text;
  };
  return found === null ? null : deep(found).trim();
}"""


@dataclass
class BrowserPage:
    """A playwright page on the served app, with the console errors it logged."""

    page: Any
    errors: list[str]

    def wait_idle(self, timeout_ms: float = 30_000) -> None:
        """Wait until Bokeh has rendered the document and has no pending server messages."""
        self.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
            " && Bokeh.documents[0].is_idle",
            timeout=timeout_ms,
        )

    def text(self, selector: str) -> str | None:
        """The text of the first element matching `selector`, including its shadow roots
        (Panel panes keep their text in one, where innerText does not look)."""
        return self.page.evaluate(_DEEP_TEXT_JS, selector)

    def wait_text_change(self, selector: str, before: str | None) -> str | None:
        """Wait until the text of `selector` differs from `before`, then for Bokeh to settle."""
        self.page.wait_for_function(
            f"([selector, before]) => ({_DEEP_TEXT_JS})(selector) !== before",
            arg=[selector, before],
        )
        self.wait_idle()
        return self.text(selector)

    def screenshot(self, name: str) -> Path:
        """Save a full-page PNG under test-artifacts/ (gitignored) and return its path."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def app_page(browser: Any, demo_server: ServedApp) -> Iterator[BrowserPage]:
    """A fresh tab on the served demo app, loaded and idle."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(demo_server.url, wait_until="load")
        loaded = BrowserPage(page, errors)
        loaded.wait_idle()
        yield loaded
    finally:
        context.close()
