"""Scene lines of an NDJSON file imported again (update=True) are left unconverted when the
catalog holds their scenes as they made them, and converted when anything changed since:
either way the catalog ends as the per-record path leaves it, with the same report."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import workbench
from tests.ingest.nucleus_scenes import per_record
from workbench.ingest import _nucleus_columnar
from workbench.ingest._nucleus_columnar import ColumnarScenes
from workbench.ingest._nucleus_digests import SceneDigests
from workbench.ingest.nucleus import import_files
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Roi


def _line(name: str, ids: list[str], rate: int = 10) -> str:
    frames = [
        {"reference_id": i, "image_location": f"s3://b/{i}.jpg", "metadata": {"n": k}}
        for k, i in enumerate(ids)
    ]
    return json.dumps({"reference_id": name, "frame_rate": rate, "frames": frames})


def _scenes(names: str, size: int = 4) -> list[str]:
    return [_line(n, [f"{n}{i}" for i in range(size)]) for n in names]


def _per_record(catalog, path: Path):
    return per_record(catalog, path, update=True)


def _stored(catalog) -> tuple[list, list, list]:
    frames = catalog.sql(
        "SELECT * EXCLUDE (ingested, frame_key, context_key) FROM frames "
        "ORDER BY context_id, frame_index, id"
    ).fetchall()
    sources = catalog.sql("SELECT * EXCLUDE (frame_key) FROM sources ORDER BY frame_id").fetchall()
    rois = catalog.sql("SELECT frame_id, id FROM rois ORDER BY frame_id, id").fetchall()
    return frames, sources, rois


@pytest.fixture
def same_scenes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of scenes each columnar import left unconverted."""
    found: list[int] = []
    close = ColumnarScenes.close

    def closing(self: ColumnarScenes) -> None:
        found.append(self.same_scenes)
        close(self)

    monkeypatch.setattr(ColumnarScenes, "close", closing)
    return found


@pytest.mark.parametrize("lines", [2, 200])
@pytest.mark.parametrize("per_write", [5, 1000])
def test_an_unchanged_file_is_not_converted_again(
    tmp_path: Path,
    lines: int,
    per_write: int,
    same_scenes: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every scene line of a file imported again unchanged is left unconverted (writes cut
    across scenes too), its frames left as stored and counted as the per-record path
    counts them; the same file imported without update still refuses every frame."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", per_write)
    path = tmp_path / "scenes.ndjson"
    path.write_text("\n".join(_scenes("abcdefg")) + "\n")
    query = "SELECT id, frame_key, ingested FROM frames ORDER BY id"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert import_files(catalog, [path], progress=False, update=True).ok
        before = catalog.sql(query).fetchall()
        report = import_files(catalog, [path], progress=False, update=True)
        assert report.ok and (report.frames, report.sources) == (28, 28)
        assert same_scenes[-1] == 7
        assert catalog.sql(query).fetchall() == before
        refused = import_files(catalog, [path], progress=False)
        assert len(refused.errors) == 28 and same_scenes[-1] == 0
    with workbench.open(tmp_path / "r.duckdb") as catalog:
        assert import_files(catalog, [path], progress=False, update=True).ok
        reference = _per_record(catalog, path)
        assert (reference.frames, reference.sources) == (28, 28)


def _changed_metadata(catalog) -> None:
    with catalog.transaction() as con:
        con.execute("UPDATE frames SET metadata = '{\"n\": 9}' WHERE id = 'b2'")


def _labelled(catalog) -> None:
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add_labels("b2", "ground_truth", [Roi("r", "box", ["car"], geometry=[[0, 0, 1, 1]])])


def _rewritten(catalog) -> None:
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="b3", context_id="b", frame_index=3))


def _joined(catalog) -> None:  # another frame in the scene, at a place of its own
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="z", context_id="b", frame_index=7))


def _deleted(catalog) -> None:
    with catalog.transaction() as con:
        for table in ("sources", "frames"):
            column = "id" if table == "frames" else "frame_id"
            con.execute(f"DELETE FROM {table} WHERE {column} = 'b1'")


def _recounted(catalog) -> None:
    with catalog.transaction() as con:
        con.execute("UPDATE frames SET num_frames = 9 WHERE context_id = 'b'")


@pytest.mark.parametrize(
    "change", [_changed_metadata, _labelled, _rewritten, _joined, _deleted, _recounted]
)
def test_a_scene_whose_frames_changed_since_is_converted_again(
    tmp_path: Path, change: Callable, same_scenes: list[int]
) -> None:
    """A scene one of whose frames changed after its line was digested (its values, its
    ROIs, written again, deleted, its count), or which holds another frame since, is
    converted again: the catalog ends as the per-record path leaves it."""
    path = tmp_path / "scenes.ndjson"
    path.write_text("\n".join(_scenes("abc")))
    results = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            assert import_files(catalog, [path], progress=False, update=True).ok
            change(catalog)
            if way == "columnar":
                report = import_files(catalog, [path], progress=False, update=True)
                assert same_scenes[-1] == 2  # a and c
            else:
                report = _per_record(catalog, path)
            results.append((_stored(catalog), [str(e) for e in report.errors], report.frames))
    assert results[0] == results[1]


@pytest.mark.parametrize("lines", [1, 3])
@pytest.mark.parametrize("known", [1, 100_000])
def test_a_scene_an_earlier_line_touched_is_converted(
    tmp_path: Path,
    lines: int,
    known: int,
    same_scenes: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line found unchanged as its batch began is converted after all when a line before
    it in the same import took one of its frames (in its batch or an earlier one, what is
    known dropped after each batch or not): it takes the frame back, as the per-record path
    does; the lines after it that nothing touched are left unconverted."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_KNOWN", known)
    path = tmp_path / "scenes.ndjson"
    results = []
    for way in ("columnar", "per-record"):
        path.write_text("\n".join(_scenes("zab")))
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            assert import_files(catalog, [path], progress=False, update=True).ok
            path.write_text("\n".join([_line("x", ["x0", "a1"]), *_scenes("ab")]))
            if way == "columnar":
                report = import_files(catalog, [path], progress=False, update=True)
                assert same_scenes[-1] == 1  # b
            else:
                report = _per_record(catalog, path)
            home = catalog.sql("SELECT context_id FROM frames WHERE id = 'a1'").fetchall()
            reported = (report.frames, report.sources, report.rois)
            results.append((_stored(catalog), [str(e) for e in report.errors], reported, home))
    assert results[0] == results[1]
    assert results[0][-1] == [("a",)]


@pytest.mark.parametrize(
    "change", [_changed_metadata, _labelled, _rewritten, _joined, _deleted, _recounted]
)
@pytest.mark.parametrize("lines", [1, 200])
def test_a_scene_changed_between_its_lookup_and_the_write_is_converted(
    tmp_path: Path, change: Callable, lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scene that changes after its line was found unchanged and before the write that
    counts it (a write of another connection landing in between) is converted after all,
    in its own import: the catalog and the report end as the per-record path leaves them
    with the change made first."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    path = tmp_path / "scenes.ndjson"
    path.write_text("\n".join(_scenes("abc")))
    found: list[int] = []
    unchanged = SceneDigests.unchanged

    def then_changed(self: SceneDigests, digests):  # the change lands after the lookup
        scenes = unchanged(self, digests)
        found.extend(scenes["n"].to_pylist())
        if 2 in found and not changed:
            changed.append(catalog)
            change(catalog)
        return scenes

    monkeypatch.setattr(SceneDigests, "unchanged", then_changed)
    results = []
    for way in ("columnar", "per-record"):
        changed: list = []
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            assert import_files(catalog, [path], progress=False, update=True).ok
            if way == "columnar":
                report = import_files(catalog, [path], progress=False, update=True)
                assert changed and found == [1, 2, 3]  # b was found before it changed
            else:
                change(catalog)
                report = _per_record(catalog, path)
            reported = (report.frames, report.sources, report.rois)
            results.append((_stored(catalog), [str(e) for e in report.errors], reported))
    assert results[0] == results[1]
