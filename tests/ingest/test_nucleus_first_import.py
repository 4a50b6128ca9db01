"""What a first import of Nucleus scenes SQL takes whole leaves out: the frames' counts of
scenes placed at once are not refreshed after the write (their rows carry them), and no line
is read back for the per-record path when SQL took every line of a batch."""

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import workbench
from workbench.ingest import _nucleus_columnar
from workbench.ingest._nucleus_columnar import ColumnarScenes
from workbench.ingest._nucleus_convert import others
from workbench.ingest.nucleus import _SceneImport

from .nucleus_scenes import per_record, stored_rows


def _scene_line(name: str, ids: list, rate: int = 10) -> str:
    frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
    return json.dumps({"reference_id": name, "frame_rate": rate, "frames": frames})


def _columnar(catalog: workbench.Catalog, path: Path, update: bool) -> _SceneImport:
    """The columnar import of `path` as `import_files` runs it, but for the frames' counts:
    the job, whose `contexts` name the scenes whose counts it would refresh."""
    job = _SceneImport(catalog, update=update, progress=False, frames_dir=None, dataset=None)
    job.base = path.resolve().parent
    with job.writer:
        scenes = ColumnarScenes(job)
        try:
            scenes.read(path)
        finally:
            scenes.close()
    return job


@pytest.mark.parametrize("update", [False, True])
def test_scenes_placed_at_once_need_no_recount(tmp_path: Path, update: bool) -> None:
    """New scenes placed at once are stored with their frames' counts: none is named for
    the recount, and the rows stored before any recount are the per-record path's."""
    path = tmp_path / "s.ndjson"
    path.write_text(
        "\n".join(_scene_line(f"s{n}", [f"s{n}-{i}" for i in range(n + 1)]) for n in range(5))
    )
    stored = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            if way == "columnar":
                job = _columnar(catalog, path, update)
                assert job.contexts == set()
            else:
                assert per_record(catalog, path, update=update).ok
            stored.append(stored_rows(catalog))
    assert stored[0] == stored[1] and len(stored[0][0]) == 15


@pytest.mark.parametrize("update", [False, True])
def test_scenes_placed_at_once_then_touched_are_recounted(
    tmp_path: Path, update: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scene placed at once (batches of two lines: a b, c e, then a d by `_place`) that a
    later line adds frames to, or takes one from, is named for the recount; the others are
    not."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", 2)
    path = tmp_path / "s.ndjson"
    path.write_text(
        "\n".join(
            [
                _scene_line("a", ["a0", "a1", "a2"]),
                _scene_line("b", ["b0", "b1"]),
                _scene_line("c", ["c0", "c1"]),
                _scene_line("e", ["e0"]),
                _scene_line("a", ["x0", "x1", "x2", "x3"]),  # a again: one index more
                _scene_line("d", ["d0", "b1"]),  # a frame of b
            ]
        )
    )
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        job = _columnar(catalog, path, update)
    assert {"a", "d"} <= job.contexts and not {"c", "e"} & job.contexts
    assert ("b" in job.contexts) is update  # (without update, b1 stays in b)


def test_no_line_is_read_back_when_sql_took_every_line() -> None:
    """`others` answers from the count of lines taken when it is every line, without reading
    the batch (which is not even there), and reads the lines left otherwise."""
    con = duckdb.connect()
    assert others(con, {1, 2}, 2) == []
    lines = pa.table({"n": pa.array([1, 2], pa.int64()), "j": ["{}", "x"]})
    con.register("_wb_lines", lines)
    assert others(con, {1}, 2) == [(2, "x")]
