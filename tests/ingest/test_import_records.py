"""Import records end to end: a real `workbench ingest` killed with SIGKILL mid-import, what
`workbench info` then says, a re-run that completes it, the media-root options of the command
line, and the served app's notice about interrupted imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import workbench
from workbench.cli import main
from workbench.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
TOTAL, BATCH = 60_000, 1_000


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _frames_file(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "frames.ndjson"
    with path.open("w") as out:
        for i in range(TOTAL):
            frame = {
                "id": f"f{i:06d}",
                "context_id": f"c{i // 100}",
                "timestamp": i,
                "sources": [{"id": "cam", "uri": f"img/{i}.jpg", "width": 64, "height": 48}],
                "rois": [{"id": "a", "label": ["car"], "poly": [1, 2, 11, 2, 11, 12, 1, 12]}],
            }
            out.write(json.dumps(frame) + "\n")
    return path


def test_a_killed_cli_import_is_reported_and_a_rerun_completes_it(tmp_path: Path):
    data, catalog = _frames_file(tmp_path / "drive"), tmp_path / "c.duckdb"
    ingest = [
        "ingest",
        "clearml",
        str(data),
        "--catalog",
        str(catalog),
        "-o",
        f"batch_size={BATCH}",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *ingest],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Every committed batch grows the write-ahead log (about 0.5 MB per 1,000 frames here):
    # kill once a few batches are in, long before the 60 batches of the whole file.
    wal, deadline = catalog.with_name("c.duckdb.wal"), time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size > 2_000_000:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the import ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL

    info = json.loads(_cli("info", "--catalog", str(catalog), "--json").stdout)
    [record] = info["interrupted_imports"]
    assert (record["format"], record["status"], record["files"]) == (
        "clearml",
        "interrupted",
        [str(data)],
    )
    assert record["options"] == {"batch_size": BATCH} and record["finished"] is None
    stored = record["counts"]["frames"]
    assert 0 < stored < TOTAL and stored % BATCH == 0
    assert record["counts"]["batches"] == stored // BATCH
    assert info["frames"] == stored == record["counts"]["rois"]  # the counts are what is stored
    text = _cli("info", "--catalog", str(catalog)).stdout
    assert "1 interrupted import(s)" in text and str(data) in text and f"{stored} frames" in text

    again = _cli(*ingest)
    assert f"{TOTAL} frames" in again.stdout
    assert f"completes the interrupted import {record['id'][:8]}" in again.stdout
    info = json.loads(_cli("info", "--catalog", str(catalog), "--json").stdout)
    assert info["interrupted_imports"] == [] and info["frames"] == TOTAL
    with workbench.open(catalog, read_only=True) as cat:
        rows = cat.sql(
            "SELECT id, status, frames, resumes, superseded_by FROM imports ORDER BY started"
        ).fetchall()
        assert cat.sql("SELECT count(DISTINCT id) FROM frames").fetchall() == [(TOTAL,)]
        outcomes = cat.sql("SELECT outcome FROM audit_log ORDER BY id").fetchall()
    (first, status, frames, _, by), (second, done, all_frames, resumes, _) = rows
    assert (first, status, frames) == (record["id"], "superseded", stored)
    assert (done, all_frames, resumes, by) == ("finished", TOTAL, first, second)
    assert outcomes[0][0].startswith("interrupted:") and outcomes[1][0] == "ok"


def _picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path)
    return path


def test_ingest_media_root_option_and_the_media_roots_command(tmp_path: Path, capsys: Any):
    catalog, shoot, shared = tmp_path / "c.duckdb", tmp_path / "shoot", tmp_path / "shared"
    _picture(shoot / "a.png")
    _picture(shared / "b.png")
    frames = tmp_path / "frames" / "frames.ndjson"
    frames.parent.mkdir()
    frames.write_text(
        json.dumps({"id": "x", "sources": [{"id": "cam", "uri": str(shared / "b.png")}]})
        + "\n"
        + json.dumps({"id": "y", "sources": [{"id": "cam", "uri": "/etc/passwd"}]})
        + "\n"
    )
    args = ["--catalog", str(catalog)]
    assert main(["ingest", "clearml", str(frames), *args]) == 0
    out = capsys.readouterr().out
    assert "2 URIs lie outside the media roots" in out and "--media-root" in out
    assert main(["ingest", "clearml", str(frames), "--media-root", str(shared), *args]) == 0
    out = capsys.readouterr().out
    assert "1 URIs lie outside the media roots" in out and "/etc/passwd" in out

    assert main(["media-roots", "list", "--json", *args]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["path"], r["origin"], r["served"]) for r in listed] == [
        (str(frames.parent), "import", True),
        (str(shared), "option", True),
    ]
    assert main(["media-roots", "add", str(shoot), *args]) == 0
    assert str(shoot) in capsys.readouterr().out
    assert main(["media-roots", "remove", str(shared), str(tmp_path / "never"), *args]) == 0
    assert "1 media root(s) removed" in capsys.readouterr().out
    assert main(["media-roots", "list", *args]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{frames.parent}  [import]",
        f"{shoot}  [configured]",
    ]
    assert main(["media-roots", "add", *args]) == 2
    assert "needs at least one folder" in capsys.readouterr().err
    assert "media-roots" in _cli("--help").stdout


# Run in the page: shadow roots included (Panel keeps pane contents in them), the text of the
# notice and how many <img src="x"> elements exist anywhere.
_INSPECT = """() => {
  const roots = [document];
  let notice = null, images = 0;
  while (roots.length) {
    const root = roots.pop();
    notice = notice || root.querySelector('.wb-import-notice');
    images += root.querySelectorAll('img[src="x"]').length;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
  }
  const deep = (node) => {
    let text = node.nodeType === Node.TEXT_NODE ? node.textContent : '';
    if (node.shadowRoot) text += deep(node.shadowRoot);
    for (const child of node.childNodes) text += deep(child);
    return text;
  };
  return {notice: notice === null ? null : deep(notice), images: images};
}"""

_KILLED = """
import os, signal, sys
import workbench
from workbench.ingest.imports import recorded_import

catalog = workbench.open(sys.argv[1])
with recorded_import(catalog, "coco", [sys.argv[2]]):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_served_app_shows_interrupted_imports_as_text(
    tmp_path: Path, serve_catalog: Any, browser: Any
):
    # A file name is data too: it must come out as text, never as markup.
    hostile = tmp_path / "<img src=x onerror=window.__pwned=1>.json"
    hostile.write_text("{}")
    catalog = tmp_path / "c.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED), str(catalog), str(hostile)],
        env=ENV,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    served = serve_catalog(catalog)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(served.url, wait_until="load")
        page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
            " && Bokeh.documents[0].is_idle",
            timeout=60_000,
        )
        page.locator(".wb-import-notice").wait_for(state="visible", timeout=60_000)
        found = page.evaluate(_INSPECT)
        text = found["notice"] or ""
        assert "1 import(s) stopped before they finished" in text
        assert f"coco of {hostile}: 0 frames stored" in text
        assert found["images"] == 0
        assert page.evaluate("() => window.__pwned") is None
    finally:
        context.close()


@pytest.fixture
def no_interrupted(tmp_path: Path) -> Path:
    path = tmp_path / "fine.duckdb"
    workbench.open(path).close()
    return path


def test_info_json_lists_no_interrupted_imports_when_there_are_none(no_interrupted: Path):
    info = json.loads(_cli("info", "--catalog", str(no_interrupted), "--json").stdout)
    assert info["interrupted_imports"] == [] and info["media_roots"] == []
    assert info["schema_version"] == SCHEMA_VERSION
