"""Import records: opened before an import reads anything, counted per committed batch, closed
finished / failed / interrupted, audited; a killed process's record is found on the next open."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Source, clearml, coco, images
from workbench.ingest.imports import recorded_import
from workbench.store.imports import get_import, interrupted_imports, list_imports

DATA = Path(__file__).resolve().parents[1] / "data" / "clearml"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _audit(catalog) -> list[tuple]:
    return catalog.sql(
        "SELECT actor, action, target, count, outcome FROM audit_log ORDER BY id"
    ).fetchall()


def test_an_import_is_recorded_with_its_files_counts_and_audit_row(catalog):
    report = clearml.import_files(catalog, [DATA], progress=False, batch_size=2, actor="ana")
    record = get_import(catalog, report.import_id)
    assert (record.format, record.actor, record.status) == ("clearml", "ana", "finished")
    assert record.files == [str(DATA)]
    assert record.options == {"batch_size": 2}  # progress changes nothing stored
    assert record.media_roots == [str(DATA)]
    assert (record.pid, record.host) == (os.getpid(), socket.gethostname())
    assert record.finished is not None and record.finished >= record.started
    counts = record.counts
    assert (counts.frames, counts.sources, counts.rois, counts.refused) == (5, 7, 10, 3)
    # Batches of 2: an NDJSON file is read column by column in batches of its own lines, so
    # frame_group.json (1 frame), frames.ndjson (2 batches of 2 lines), single_frame.json (1).
    assert counts.batches == 4
    assert record.errors == [str(e) for e in report.errors] and len(record.errors) == 3
    assert record.resumes is None and record.superseded_by is None
    [(actor, action, target, count, outcome)] = _audit(catalog)
    assert (actor, action, count, outcome) == ("ana", "import", 5, "ok")
    assert json.loads(target) == {"import_id": record.id, "format": "clearml", "files": [str(DATA)]}


def test_a_failing_import_is_recorded_failed(catalog, tmp_path: Path):
    missing = tmp_path / "nope.json"
    with pytest.raises(IngestError, match="no such file"):
        coco.import_files(catalog, [missing], progress=False)
    [record] = list_imports(catalog)
    assert record.status == "failed" and "no such file" in (record.error or "")
    assert record.files == [str(missing)] and record.media_roots == []
    assert _audit(catalog)[0][4].startswith("failed: IngestError")


def test_ctrl_c_leaves_an_interrupted_record_with_what_was_committed(catalog, tmp_path: Path):
    frames = [
        Frame(id=f"f{i}", sources=[Source("s", str(tmp_path / f"{i}.jpg"))]) for i in range(3)
    ]
    with (
        pytest.raises(KeyboardInterrupt),
        recorded_import(catalog, "test", [tmp_path]) as run,
        CatalogWriter(catalog, progress=False, batch_size=1) as writer,
    ):
        writer.add(frames[0])
        writer.add(frames[1])
        raise KeyboardInterrupt
    [record] = interrupted_imports(catalog)
    assert record.id == run.record.id
    assert (record.counts.batches, record.counts.frames, record.counts.sources) == (2, 2, 2)
    assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(2,)]
    assert _audit(catalog)[0][4].startswith("interrupted: the import stopped after 2")


_KILLED_IMPORT = """
import os, signal, sys
import workbench
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.ingest.imports import recorded_import

catalog = workbench.open(sys.argv[1])
folder = sys.argv[2]
with recorded_import(catalog, "test", [folder], options={"n": 3}, actor="bo"):
    with CatalogWriter(catalog, progress=False, batch_size=2) as writer:
        for i in range(3):
            writer.add(Frame(id=f"k{i}", sources=[Source("s", f"{folder}/{i}.jpg")]))
        os.kill(os.getpid(), signal.SIGKILL)  # two frames committed, the third never
"""


def _killed_import(catalog_path: Path, folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_KILLED_IMPORT), str(catalog_path), str(folder)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()


def test_a_killed_import_is_found_interrupted_on_the_next_open(tmp_path: Path):
    path, folder = tmp_path / "c.duckdb", tmp_path / "pics"
    folder.mkdir()
    _killed_import(path, folder)
    with workbench.open(path, read_only=True) as reader:
        # Read-only, nothing is written, but no process holds the file: it is reported
        # interrupted all the same.
        assert reader.sql("SELECT status FROM imports").fetchall() == [("running",)]
        [seen] = interrupted_imports(reader)
        assert (seen.actor, seen.counts.frames, seen.counts.batches) == ("bo", 2, 1)
    with workbench.open(path) as cat:
        assert cat.sql("SELECT status, frames FROM imports").fetchall() == [("interrupted", 2)]
        assert cat.sql("SELECT count(*) FROM frames").fetchall() == [(2,)]
        [(actor, action, _, count, outcome)] = _audit(cat)
        assert (actor, action, count) == ("bo", "import", 2)
        assert outcome.startswith("interrupted: the import stopped after 1 committed batch")
    with workbench.open(path) as cat:  # marked once, audited once
        assert len(_audit(cat)) == 1


def test_running_the_same_import_again_completes_it(tmp_path: Path):
    path, folder = tmp_path / "c.duckdb", tmp_path / "pics"
    folder.mkdir()
    _killed_import(path, folder)
    with workbench.open(path) as cat:
        [first] = interrupted_imports(cat)
        frames = [Frame(id=f"k{i}", sources=[Source("s", f"{folder}/{i}.jpg")]) for i in range(3)]
        # Other options: another import, which completes nothing.
        with recorded_import(cat, "test", [folder], options={"n": 4}) as other:
            other.report = None
        assert other.record.resumes is None
        with (
            recorded_import(cat, "test", [folder], options={"n": 3}) as again,
            CatalogWriter(cat, progress=False) as writer,
        ):
            for frame in frames:
                writer.add(frame)
            again.report = writer.report
        assert again.record.resumes == first.id
        done = get_import(cat, again.record.id)
        assert (done.status, done.counts.frames) == ("finished", 3)
        earlier = get_import(cat, first.id)
        assert (earlier.status, earlier.superseded_by) == ("superseded", done.id)
        assert interrupted_imports(cat) == []
        assert cat.sql("SELECT count(*) FROM frames").fetchall() == [(3,)]


def test_folders_of_the_files_and_media_roots_option_are_declared(catalog, tmp_path: Path):
    from PIL import Image

    shoot, extra = tmp_path / "shoot", tmp_path / "elsewhere"
    shoot.mkdir()
    extra.mkdir()
    Image.new("RGB", (8, 8)).save(shoot / "a.png")
    report = images.import_files(catalog, [shoot / "a.png"], progress=False, media_roots=[extra])
    assert report.ok and report.outside_media_roots == 0
    entries = {(r.path, r.origin) for r in catalog.media_root_entries()}
    assert entries == {(str(shoot), "import"), (str(extra), "option")}
    assert get_import(catalog, report.import_id).media_roots == sorted([str(shoot), str(extra)])
