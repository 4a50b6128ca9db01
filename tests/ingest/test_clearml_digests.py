"""Re-importing a ClearML NDJSON file leaves the lines of frames stored as they make them
unconverted (store/line_digests.py), and only those: a frame changed since by any other
path (a label write, a merge of annotations, another format's import, a change in place) is
stored again as the file says, and the report is the one an update without digests gives."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import CatalogWriter, Roi, box_ring, clearml, coco
from workbench.ingest._clearml_columnar import NdjsonImport
from workbench.ingest._clearml_digests import LineDigests
from workbench.ingest.video import count_context_frames
from workbench.model.records import ROI_SCHEMA
from workbench.services import Workbench
from workbench.store import layout_hashes, line_digests
from workbench.store.catalog import Catalog
from workbench.store.layout import next_frame_key

from .test_clearml_columnar import _frames, _plain_frames, _rows

FIELDS = ("frames", "sources", "rois")


def _write(path: Path, frames: list[Any]) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in frames), encoding="utf-8")
    return path


def _unchanged_lines(catalog: Catalog, path: Path) -> int:
    """Import `path` again; how many of its lines were left unconverted."""
    with (
        CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
        NdjsonImport(writer) as reader,
    ):
        reader.read(path, path.parent)
    assert writer.report.frames
    return reader.unchanged_lines


# Keys the layout gives (a frame stored again moves to the end, with a new key).
_KEYS = {"frame_key", "context_key", "values_key", "label_key"}


def _stored(catalog: Catalog) -> list[list[tuple[Any, ...]]]:
    """Every row of frames, sources and ROIs as stored, but the layout's keys, sorted."""
    return [
        sorted(
            (tuple(kv for kv in row if kv[0] not in _KEYS) for row in _rows(catalog, table)),
            key=repr,
        )
        for table in FIELDS
    ]


def _as_fresh_import(tmp_path: Path, path: Path) -> list[list[tuple[Any, ...]]]:
    """The rows of `path` imported alone into a new catalog."""
    with workbench.open(tmp_path / f"fresh-{path.stem}.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        return _stored(catalog)


def _without_digests(path: Path) -> None:
    """Make `path` a catalog of the schema before line digests (version 12)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("DROP TABLE _line_digests")
        con.execute("UPDATE meta SET value = '12' WHERE key = 'schema_version'")
    finally:
        con.close()


def _report(report: Any) -> dict[str, Any]:
    fields = dict(vars(report))
    fields.pop("import_id")
    fields["errors"] = [str(e) for e in report.errors]
    return fields


def _record(catalog: Catalog) -> tuple[Any, ...]:
    return catalog.sql(
        "SELECT batches, frames, sources, rois, refused, warnings, outside_media_roots, errors "
        "FROM imports ORDER BY started DESC LIMIT 1"
    ).fetchall()[0]


def test_an_update_reports_what_an_update_without_digests_reports(tmp_path: Path) -> None:
    """Frames of every shape (refused lines, warnings, URIs outside the media roots): the
    update of a catalog migrated from before digests, and of one that kept them, store the
    same rows and report the same, line by line; only the second leaves lines unconverted."""
    path = _write(tmp_path / "frames.ndjson", _frames(400, 7))
    kept, migrated = tmp_path / "kept.duckdb", tmp_path / "migrated.duckdb"
    with workbench.open(kept) as catalog:
        first = clearml.import_files(catalog, [path], progress=False)
    assert first.rejected and first.warnings and first.outside_media_roots
    shutil.copy(kept, migrated)
    _without_digests(migrated)
    found = {}
    for name, file in (("migrated", migrated), ("kept", kept)):
        with workbench.open(file) as catalog:
            found[name] = (
                # Writes of 50 frames: the update's writes fall where they always have.
                _report(clearml.import_files(catalog, [path], progress=False, batch_size=50)),
                _record(catalog),
                _stored(catalog),
            )
    assert found["kept"] == found["migrated"]
    assert found["kept"][0]["warnings"] == first.warnings  # warned about again
    with workbench.open(kept) as catalog:
        unchanged = _unchanged_lines(catalog, path)
    warned = sum(first.warnings.values())
    assert first.frames - warned <= unchanged < first.frames


def test_a_first_update_of_a_migrated_catalog_digests_its_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "frames.ndjson", _plain_frames(30))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
    _without_digests(tmp_path / "c.duckdb")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert _unchanged_lines(catalog, path) == 0  # converted as before, digested now
        assert _unchanged_lines(catalog, path) == 30


def test_the_progress_counts_the_lines_left_unconverted(tmp_path: Path) -> None:
    path = _write(tmp_path / "frames.ndjson", _plain_frames(30))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        with (
            CatalogWriter(catalog, progress=True, unique_ids=True) as writer,
            NdjsonImport(writer) as reader,
        ):
            reader.read(path, path.parent)
            shown = writer._bar.n
        assert reader.unchanged_lines == 30
        assert shown == 30


def _labelled(catalog: Catalog, how: str, frame_id: str) -> None:
    """Replace the `predictions` ROIs of one frame by a label write."""
    roi = Roi("new", "box", ["truck"], geometry=[box_ring(1, 1, 4, 4)], field="predictions")
    with CatalogWriter(catalog, progress=False) as writer:
        if how == "add_labels":
            writer.add_labels(frame_id, "predictions", [roi])
        else:
            row = {name: None for name in ROI_SCHEMA.names}
            row.update(frame_id=frame_id, id="new", field="predictions", kind="box")
            row.update(label="truck", labels=["truck"], geometry=[[1.0, 1.0, 5.0, 1.0]])
            writer.write_labels(
                [frame_id], "predictions", pa.Table.from_pylist([row], ROI_SCHEMA), []
            )
    assert writer.report.ok, writer.report


@pytest.mark.parametrize("how", ["add_labels", "write_labels"])
def test_a_frame_given_labels_since_is_stored_again_as_the_file_says(
    tmp_path: Path, how: str
) -> None:
    path = _write(tmp_path / "frames.ndjson", _plain_frames(20))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        _labelled(catalog, how, "f3")
        assert _stored(catalog) != _as_fresh_import(tmp_path, path)
        assert _unchanged_lines(catalog, path) == 19
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)
        assert _unchanged_lines(catalog, path) == 20


def test_a_frame_imported_from_another_format_since_is_stored_again(tmp_path: Path) -> None:
    frames = _plain_frames(5)
    for frame in frames:
        frame["id"] = f"img:{frame['id'][1:]}"
    path = _write(tmp_path / "frames.ndjson", frames)
    document = {
        "images": [{"id": 2, "file_name": "two.jpg", "width": 64, "height": 48}],
        "annotations": [
            {"id": 9, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12}
        ],
        "categories": [{"id": 1, "name": "bus"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(document))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        done = coco.import_files(
            catalog, [tmp_path / "coco.json"], id_prefix="img:", progress=False
        )
        assert done.ok and done.frames == 1
        assert _unchanged_lines(catalog, path) == 4
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)


def test_a_frame_changed_in_place_is_stored_again(tmp_path: Path) -> None:
    """`num_frames` counted again for a context (as a video import does) changes the frames
    row in place, naming nothing for the summaries: the row's hash no longer holds."""
    path = _write(tmp_path / "frames.ndjson", _plain_frames(20))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        count_context_frames(catalog, ["c1"])
        assert _stored(catalog) != _as_fresh_import(tmp_path, path)
        assert _unchanged_lines(catalog, path) == 10
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)


def test_a_roi_deleted_by_a_merge_of_annotations_comes_back(tmp_path: Path) -> None:
    """The merge of a run's annotations deletes an ROI the platform no longer has."""
    from tests.services.service_catalog import build_catalog

    catalog = build_catalog(tmp_path / "c.duckdb", tmp_path / "media")
    try:
        path = tmp_path / "frames.ndjson"
        clearml.export_files(catalog.view(), path, progress=False)
        clearml.import_files(catalog, [path], progress=False)
        assert _unchanged_lines(catalog, path) == 11
        wb = Workbench(catalog, actor="tester")
        schema = {"ground_truth": {"type": "detections", "classes": ["car", "truck"]}}
        wb.annotate(["img-0", "img-1", "img-2"], "r1", label_schema=schema)
        for task in wb.list_tasks("r1"):
            shapes = wb.get_task_annotations(task.task_id)
            wb.save_task_annotations(task.task_id, [s for s in shapes if s.frame_id != "img-2"])
        assert len(wb.load_annotations("r1").deleted) == 1
        assert _unchanged_lines(catalog, path) == 10
        rois = catalog.sql("SELECT id FROM rois WHERE frame_id = 'img-2' ORDER BY id")
        assert rois.fetchall() == [("b2",), ("c2",)]
    finally:
        catalog.close()


@pytest.mark.parametrize("how", ["add_labels", "write_labels"])
def test_a_label_write_between_the_lookup_and_the_write_is_replaced_by_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A label write lands, from another thread, after a batch's lines were looked up and
    before the write that counts them as unchanged: the import's write comes after it, so
    the frame ends as the file makes it (converted after all), not as the label write left
    it."""
    path = _write(tmp_path / "frames.ndjson", _plain_frames(20))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        lookup, landed = LineDigests.unchanged, []

        def label_write_after_the_lookup(self: LineDigests, digests: pa.Table) -> pa.Table:
            found = lookup(self, digests)
            landed.append(found.num_rows)
            writing = threading.Thread(target=_labelled, args=(catalog, how, "f3"))
            writing.start()
            writing.join()
            return found

        monkeypatch.setattr(LineDigests, "unchanged", label_write_after_the_lookup)
        unchanged = _unchanged_lines(catalog, path)
        monkeypatch.undo()
        assert landed == [20]  # every line was found before the label write
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)
        assert unchanged == 19
        assert _unchanged_lines(catalog, path) == 20  # the converted line was digested


def test_an_update_reports_as_before_when_lines_are_converted_after_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames changed between the lookup and the write in several batches of a file with
    refused lines and warnings: the update stores and reports what an update without
    digests does."""
    path = _write(tmp_path / "frames.ndjson", _frames(400, 7))
    kept, migrated = tmp_path / "kept.duckdb", tmp_path / "migrated.duckdb"
    with workbench.open(kept) as catalog:
        clearml.import_files(catalog, [path], progress=False, batch_size=50)
    shutil.copy(kept, migrated)
    _without_digests(migrated)
    with workbench.open(migrated) as catalog:
        expected = _report(clearml.import_files(catalog, [path], progress=False, batch_size=50))
        stored = _stored(catalog)
    with workbench.open(kept) as catalog:
        lookup, changed = LineDigests.unchanged, []

        def label_write_after_each_lookup(self: LineDigests, digests: pa.Table) -> pa.Table:
            found = lookup(self, digests)
            if found.num_rows:
                frame_id = found["id"][found.num_rows // 2].as_py()
                changed.append(frame_id)
                _labelled(catalog, "write_labels", frame_id)
            return found

        monkeypatch.setattr(LineDigests, "unchanged", label_write_after_each_lookup)
        report = clearml.import_files(catalog, [path], progress=False, batch_size=50)
        monkeypatch.undo()
        assert len(changed) > 3
        assert _report(report) == expected
        assert _stored(catalog) == stored


def test_the_digests_name_their_file_and_line_in_line_order(tmp_path: Path) -> None:
    """The rows are written in the order of their lines, each naming its file and line:
    what lets a batch read only its own stretch of the table."""
    first = _write(tmp_path / "a.ndjson", _plain_frames(30))
    second = _write(tmp_path / "b.ndjson", _plain_frames(60)[30:])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [first, second], progress=False, batch_size=7)
        con = catalog.cursor()
        rows = con.execute(
            f"SELECT file_key, line FROM {line_digests.TABLE} ORDER BY rowid"
        ).fetchall()
        keys = [line_digests.file_key(con, str(p.resolve())) for p in (first, second)]
        con.close()
    assert rows == [(keys[0], n) for n in range(1, 31)] + [(keys[1], n) for n in range(1, 31)]


def test_lines_moved_in_their_file_are_converted(tmp_path: Path) -> None:
    """A line is looked up at its place in its file: lines moved past their batch's stretch
    (lines added above them) are converted, and stored as the file makes them."""
    frames = _plain_frames(40)
    path = _write(tmp_path / "frames.ndjson", frames[20:])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        _write(path, frames)
        with (
            CatalogWriter(catalog, progress=False, unique_ids=True) as writer,
            NdjsonImport(writer, frames_per_write=10) as reader,
        ):
            reader.read(path, path.parent)
        assert reader.unchanged_lines == 0
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)
        assert _unchanged_lines(catalog, path) == 40


def test_a_catalog_of_version_13_drops_its_digests_and_digests_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "frames.ndjson", _plain_frames(30))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    try:  # the table as version 13 had it, one digest kept
        con.execute(f"DROP TABLE {line_digests.TABLE}")
        con.execute(
            f"CREATE TABLE {line_digests.TABLE} (frame_key BIGINT NOT NULL, digest UBIGINT "
            "NOT NULL, line_bytes INTEGER NOT NULL, frame_hash UBIGINT NOT NULL, sources "
            "INTEGER NOT NULL, rois INTEGER NOT NULL)"
        )
        con.execute(f"INSERT INTO {line_digests.TABLE} VALUES (0, 1, 2, 3, 4, 5)")
        con.execute("UPDATE meta SET value = '13' WHERE key = 'schema_version'")
    finally:
        con.close()
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        con = catalog.cursor()
        assert con.execute(f"SELECT file_key, line FROM {line_digests.TABLE}").fetchall() == []
        con.close()
        assert _unchanged_lines(catalog, path) == 0
        assert _unchanged_lines(catalog, path) == 30
        assert _stored(catalog) == _as_fresh_import(tmp_path, path)


def _places(catalog: Catalog) -> list[tuple[int, int]]:
    con = catalog.cursor()
    try:
        return con.execute(
            f"SELECT file_key, line FROM {line_digests.TABLE} ORDER BY file_key, line"
        ).fetchall()
    finally:
        con.close()


def test_a_line_that_makes_another_frame_now_replaces_the_digest_at_its_place(
    tmp_path: Path,
) -> None:
    """A line converted again is digested in place of the digest kept at its place, even
    when the frame that digest named is still stored (the line now makes another frame):
    one digest per line of the file, whatever the updates."""
    frames = _plain_frames(20)
    path = _write(tmp_path / "frames.ndjson", frames)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        frames[5] = {**frames[5], "id": "g5"}  # f5 stays stored, from the first import
        _write(path, frames)
        assert _unchanged_lines(catalog, path) == 19
        con = catalog.cursor()
        key = line_digests.file_key(con, str(path.resolve()))
        con.close()
        assert _places(catalog) == [(key, n) for n in range(1, 21)]
        assert _unchanged_lines(catalog, path) == 20


def test_the_check_at_the_write_names_the_lines_whose_frame_or_digest_changed(
    tmp_path: Path,
) -> None:
    """`changed_since` (the check inside the write's transaction) names exactly the lines
    found by a lookup whose digest was forgotten since (a label write), whose frame changed
    in place (its row's hash), or whose place now keeps another digest."""
    path = _write(tmp_path / "frames.ndjson", _plain_frames(30))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        con = catalog.cursor()
        try:
            key = line_digests.file_key(con, str(path.resolve()))
            lines = con.sql(
                f"SELECT line AS n, digest, line_bytes FROM {line_digests.TABLE} ORDER BY line"
            ).to_arrow_table()
            found = line_digests.lookup(con, key, lines)
            assert found.num_rows == 30
            assert line_digests.changed_since(con, key, found).to_pylist() == []
            _labelled(catalog, "write_labels", "f3")  # line 4
            count_context_frames(catalog, ["c1"])  # f10-f19: lines 11-20, in place
            con.execute(  # another digest kept at line 26's place, for the same frame
                f"UPDATE {line_digests.TABLE} SET digest = digest + 1 WHERE line = 26"
            )
            changed = line_digests.changed_since(con, key, found).to_pylist()
        finally:
            con.close()
    assert changed == [4, *range(11, 21), 26]


def test_the_record_finds_frames_stored_before_by_their_ids_hashes(tmp_path: Path) -> None:
    """The frames of a write's digested lines that it did not insert (the writer left them
    as they were: lines moved) are found by `stored` (the hash tables), asked for those
    frames alone; each digest names its frame's key and its row's hash, as a join on id
    would find them, and a candidate whose row has another id is not taken."""
    path = _write(tmp_path / "frames.ndjson", _plain_frames(20))
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        clearml.import_files(catalog, [path], progress=False)
        con = catalog.cursor()
        try:
            keys = dict(con.execute("SELECT id, frame_key FROM frames").fetchall())
            since = next_frame_key(con)
            digested = pa.table(
                {
                    "id": [f"f{n}" for n in range(5, 10)],
                    "line": pa.array(range(31, 36), pa.int64()),
                    "digest": pa.array(range(100, 105), pa.uint64()),
                    "line_bytes": pa.array([9] * 5, pa.int32()),
                    "sources": pa.array([1] * 5, pa.int32()),
                    "rois": pa.array([2] * 5, pa.int32()),
                }
            )
            asked: list[list[str]] = []

            def stored(ids: pa.Array) -> pa.Table:
                asked.append(ids.to_pylist())
                found = layout_hashes.candidates(con, layout_hashes.FRAMES, ids)
                twin = pa.table({"id": ["f6"], "key": pa.array([keys["f1"]], pa.int64())})
                return pa.concat_tables([found, twin.cast(found.schema)])

            con.execute("BEGIN TRANSACTION")
            line_digests.record(con, 7, digested, since, stored)
            rows = con.execute(
                f"SELECT d.line, d.frame_key, d.frame_hash = {line_digests.FRAME_HASH} "
                f"FROM {line_digests.TABLE} d JOIN frames f ON f.frame_key = d.frame_key "
                "WHERE d.file_key = 7 ORDER BY d.line"
            ).fetchall()
            con.execute("ROLLBACK")
        finally:
            con.close()
    assert asked == [[f"f{n}" for n in range(5, 10)]]
    assert rows == [(31 + i, keys[f"f{n}"], True) for i, n in enumerate(range(5, 10))]
