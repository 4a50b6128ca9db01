"""An import started by code that holds a write transaction of the catalog (a notebook
wrapping it in `catalog.transaction()`, hoping for all or nothing) ends: it stores its frames
or says why it cannot, rather than wait forever for the catalog its own caller holds. The
ClearML and COCO imports store their writes in a thread of their own, which would wait for
the caller's transaction while the caller waits for it; Ctrl-C only lets a write under way
end first, so a person could not even interrupt it.

The import runs in a child process, which reports within a bound whether it ended: a thread
left waiting would otherwise hold the test run's own process at its exit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from workbench.ingest._in_thread import InThread

_CHILD = """
import json, os, sys, threading
import workbench
from workbench.ingest import clearml, coco

catalog = workbench.open(sys.argv[1])
ended = []

def run():
    try:
        with catalog.transaction():
            module = clearml if sys.argv[2].endswith('.ndjson') else coco
            report = module.import_files(catalog, [sys.argv[2]], progress=False)
        ended.append(f"stored {report.frames}")
    except Exception as exc:
        ended.append(f"refused: {exc}")

thread = threading.Thread(target=run, daemon=True)
thread.start()
thread.join(float(sys.argv[3]))
print(json.dumps(ended))
sys.stdout.flush()
os._exit(0)  # a write's thread left waiting would hold an ordinary exit
"""


def _clearml(tmp_path: Path) -> Path:
    path = tmp_path / "frames.ndjson"
    frame = {"id": "f0", "sources": [{"id": "cam", "uri": "s3://b/f0.jpg"}]}
    path.write_text(json.dumps(frame) + "\n", encoding="utf-8")
    return path


def _coco(tmp_path: Path) -> Path:
    path = tmp_path / "instances.json"
    image = {"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}
    document = {"images": [image], "annotations": [], "categories": []}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize("make", [_clearml, _coco], ids=["clearml", "coco"])
def test_an_import_inside_a_held_transaction_ends(tmp_path: Path, make: Any) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "c.duckdb"), str(make(tmp_path)), "60"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    ended = json.loads(child.stdout.strip().splitlines()[-1])
    assert len(ended) == 1, child.stderr[-2000:]
    assert ended[0] == "stored 1" or ended[0].startswith("refused: ")


def test_inline_jobs_run_in_the_callers_thread_and_give_back_their_errors() -> None:
    """The writes of an import inside a held transaction run in the caller's thread, one at a
    time, their errors raised by `wait` as a thread's would be."""
    runs = InThread("workbench-test-inline", inline=True)
    ran: list[str] = []
    runs.start(lambda: ran.append(threading.current_thread().name))
    assert runs.busy and ran == [threading.current_thread().name]
    with pytest.raises(RuntimeError, match="under way"):
        runs.start(lambda: None)
    runs.wait()
    assert not runs.busy and runs.raised is None

    def fails() -> None:
        raise ValueError("a write refused")

    runs.start(fails)
    with pytest.raises(ValueError, match="a write refused"):
        runs.wait()
    assert isinstance(runs.raised, ValueError) and not runs.busy
