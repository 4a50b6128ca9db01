"""`Catalog.close()` while a lake-backed catalog's write runs on another thread (a served
app stopping during an import) and has begun the lake's commits: the write is let reach the
catalog's COMMIT (bounded by CLOSE_WAIT) before the file is closed, so the catalog's pins are
the lake's versions. Before, close() interrupted every cursor and closed the file under the
write: the lake kept the new rows while the catalog never moved its pins to them (its keys and
summaries lost with the rolled-back transaction), and the write failed.

A write that has not reached the lake is still interrupted (it rolls back whole).

Real lake files in tmp_path; the write pauses inside its first lake commit (a tracer in its
thread) while the main thread closes the catalog."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb

import workbench
from workbench.ingest import CatalogWriter
from workbench.model.records import Frame, Source
from workbench.store import lake_write
from workbench.store.lake import Lake
from workbench.store.lake_write import open_for_lake


def _lake_catalog(tmp_path: Path) -> Path:
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    return path


def _pinned_and_latest(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """The versions the catalog file pins, and the lake tables' latest."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        lake = Lake.load(con)
        assert lake is not None
        pinned = {n: t.version for n, t in lake.tables.items()}
        return {n: int(v) for n, v in pinned.items() if v is not None}, lake.latest_versions()
    finally:
        con.close()


def test_close_lets_a_write_past_its_lake_commits_end(tmp_path: Path) -> None:
    path = _lake_catalog(tmp_path)
    catalog = workbench.open(path)
    reached = threading.Event()
    outcome: list[BaseException | None] = []

    def pause_in_the_first_lake_commit(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code is lake_write._overwrite.__code__:
            sys.settrace(None)
            reached.set()
            time.sleep(1.0)  # the main thread closes the catalog meanwhile
        return None

    def write() -> None:
        writer = CatalogWriter(catalog, progress=False)
        writer.add(Frame(id="a", sources=[Source(id="cam", uri="s3://b/a.jpg")]))
        sys.settrace(pause_in_the_first_lake_commit)
        try:
            writer.flush()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=write)
    thread.start()
    assert reached.wait(120)
    catalog.close()
    thread.join(120)
    assert outcome == [None], outcome
    pinned, latest = _pinned_and_latest(path)
    assert pinned == latest, "the lake is ahead of the catalog"
    with workbench.open(path) as again:
        assert again.sql("SELECT id FROM frames").fetchall() == [("a",)]
