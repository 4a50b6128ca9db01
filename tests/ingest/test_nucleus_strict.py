"""Scene lines the engine's strict parse takes (every key the conversion reads given once at
the scene's and each item's level) skip the check of the whole line for keys given twice:
only their items' metadata is checked. Which lines SQL takes, and that whatever it takes is
stored as the per-record path stores it, key given twice or not."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import workbench
from workbench.ingest import _nucleus_sql as sql
from workbench.ingest._columnar import MemoryEngine
from workbench.ingest._nucleus_convert import Strict, content_types, convert
from workbench.ingest.nucleus import import_files

from .nucleus_scenes import per_record, stored_rows


def _item(n: int, metadata: str = '{"camera": "front", "n": 1}') -> str:
    return f'{{"reference_id": "f{n}", "image_location": "s3://b/{n}.jpg", "metadata": {metadata}}}'


def _scene(name: str, items: list[str], metadata: str = '{"site": "a"}', extra: str = "") -> str:
    return (
        f'{{"reference_id": "{name}", "frame_rate": 10, "metadata": {metadata}, '
        f'"frames": [{", ".join(items)}]{extra}}}'
    )


# name -> (line, whether SQL takes the scene)
LINES = {
    # every key once: the strict parse takes it
    "plain": (_scene("plain", [_item(0), _item(1)]), True),
    # a key of no schema given twice, at the scene's and an item's level: read by neither path
    "other keys twice": (
        _scene("other", [_item(2)[:-1] + ', "note": 1, "note": 2}'], extra=', "x": 1, "x": 2'),
        True,
    ),
    # the scene's metadata gives a key twice: read by orjson, which keeps the last, as the
    # per-record path does
    "scene metadata twice": (_scene("smeta", [_item(3)], '{"site": "a", "site": "b"}'), True),
    # an item without metadata: not the strict schema; the whole line is parsed and checked
    "no item metadata": (
        _scene("bare", [_item(4), '{"reference_id": "f5", "image_location": "s3://b/5.jpg"}']),
        True,
    ),
    # an item's metadata gives a key twice, at its top or nested: the per-record path's
    "item metadata twice": (_scene("imeta", [_item(6, '{"camera": "a", "camera": "b"}')]), False),
    "nested twice": (_scene("nested", [_item(7, '{"o": {"k": 1, "k": 2}}')]), False),
    "nested in a list twice": (_scene("listed", [_item(8, '{"o": [{"k": 1, "k": 2}]}')]), False),
    # a key the conversion reads given twice: the strict parse refuses it
    "item id twice": (
        _scene(
            "iid",
            [
                '{"reference_id": "x", "reference_id": "f9", '
                '"image_location": "s3://b/9.jpg", "metadata": {}}'
            ],
        ),
        False,
    ),
    "location twice": (
        _scene(
            "loc",
            [
                '{"reference_id": "f10", "image_location": "s3://b/old.jpg", '
                '"image_location": "s3://b/10.jpg", "metadata": {}}'
            ],
        ),
        False,
    ),
    "rate twice": (
        '{"reference_id": "rate", "frame_rate": 3, "frame_rate": 10, "metadata": {}, '
        f'"frames": [{_item(11)}]}}',
        False,
    ),
    # a video key: the scene is not SQL's, whatever the parse
    "video": (_scene("video", [_item(12)], extra=', "video_url": "s3://b/v.mp4"'), False),
    "video null": (_scene("vnull", [_item(13)], extra=', "video_location": null'), True),
}


def _taken(lines: list[str], strict: Strict | None = None) -> set[int]:
    """The lines (numbered from 1) the conversion takes, on the import's kind of engine."""
    with MemoryEngine(sql.MACROS, threads=1) as con:
        types, odd = content_types()
        con.register("_nu_types", types)
        con.register("_nu_odd_ext", odd)
        table = pa.table(
            {
                "n": pa.array(range(1, len(lines) + 1), pa.int64()),
                "j": pa.array(lines, pa.string()),
                "marked": pa.array([False] * len(lines)),
            }
        )
        con.register("_wb_lines", table)
        _, scenes = convert(con, strict)
    return set(scenes)


def test_the_lines_sql_takes() -> None:
    names = list(LINES)
    taken = _taken([line for line, _ in LINES.values()])
    assert {names[n - 1] for n in taken} == {name for name, (_, sql) in LINES.items() if sql}


# Lines SQL leaves to the per-record path whatever their parse: a `data:` URI, its scheme in
# any case (refused there), an item's size, a pointcloud item; and a line naming those keys'
# words only inside a value, which the strict parse takes.
ODD_LINES = {
    "data uri": (
        _scene(
            "data",
            ['{"reference_id": "f20", "image_location": "DaTa://b/20.jpg", "metadata": {}}'],
        ),
        False,
    ),
    "item width": (_scene("wide", [_item(21)[:-1] + ', "width": 640}']), False),
    "item height": (_scene("high", [_item(24)[:-1] + ', "height": 480}']), False),
    "pointcloud": (
        _scene(
            "cloud",
            [
                '{"reference_id": "f22", "pointcloud_location": "s3://b/22.json", '
                '"image_location": "s3://b/22.jpg", "metadata": {}}'
            ],
        ),
        False,
    ),
    "words in a value": (
        _scene("words", [_item(23, '{"note": "a video_ width\\" height\\" pointcloud"}')]),
        True,
    ),
}


def test_odd_keys_and_data_uris_are_left_to_the_per_record_path() -> None:
    names = list(ODD_LINES)
    taken = _taken([line for line, _ in ODD_LINES.values()])
    assert {names[n - 1] for n in taken} == {name for name, (_, s) in ODD_LINES.items() if s}
    # the words inside a value cost the line nothing: the strict parse takes it
    with MemoryEngine(sql.MACROS, threads=1) as con:
        line = ODD_LINES["words in a value"][0]
        lines = {"n": pa.array([1], pa.int64()), "j": pa.array([line]), "marked": [False]}
        con.register("_wb_lines", pa.table(lines))
        con.execute(sql.SCENES)
        assert con.execute("SELECT strict, ok FROM _nu_s").fetchall() == [(True, True)]


def test_the_whole_form_takes_what_it_took() -> None:
    """After a batch the strict parse mostly refused, the whole parse and check alone: the
    lines it takes are those every line's check took (no key given twice anywhere)."""
    strict = Strict()
    strict._whole = 1
    names = list(LINES)
    taken = _taken([line for line, _ in LINES.values()], strict)
    twice = {"other keys twice", "scene metadata twice"}
    assert {names[n - 1] for n in taken} == {
        name for name, (_, sql) in LINES.items() if sql and name not in twice
    }


def test_batches_the_strict_parse_refuses_take_the_whole_form() -> None:
    """A batch most of whose lines the strict parse refused (items without metadata) sends
    the next RETRY batches to the whole form, then the strict parse is tried again; a batch
    it takes keeps it."""
    bare = _scene("bare", ['{"reference_id": "f0", "image_location": "s3://b/0.jpg"}'])
    full = _scene("full", [_item(1)])
    strict = Strict()
    _taken([full, bare], strict)  # half taken: not most refused
    assert strict.statement() == sql.SCENES
    assert _taken([bare, bare.replace("bare", "other"), full], strict) == {1, 2, 3}
    assert strict.statement() == sql.SCENES_WHOLE
    for _ in range(Strict.RETRY):
        assert strict.statement() == sql.SCENES_WHOLE
        assert _taken([full], strict) == {1}
    assert strict.statement() == sql.SCENES


@pytest.mark.parametrize("video_null", [False, True])
def test_stored_as_the_per_record_path_stores(tmp_path: Path, video_null: bool) -> None:
    lines = [line for name, (line, _) in LINES.items() if name != "video null" or video_null]
    path = tmp_path / "scenes.ndjson"
    path.write_text("\n".join(lines) + "\n")
    with workbench.open(tmp_path / "sql.duckdb") as catalog:
        report = import_files(catalog, [path], progress=False)
        assert report.ok, report.errors
        stored = stored_rows(catalog)
        rows = catalog.sql("SELECT id, metadata FROM frames").fetchall()
    with workbench.open(tmp_path / "per-record.duckdb") as catalog:
        per_record(catalog, path)
        expected = stored_rows(catalog)
    assert stored == expected
    metadata = {frame: json.loads(text) for frame, text in rows}
    assert metadata["f3"]["scene"] == {"site": "b"}  # the last of the scene's key
    assert metadata["f6"]["camera"] == "b"  # the last of the item's key
    assert metadata["f7"]["o"] == {"k": 2}
    assert set(metadata) >= {"f0", "f1", "f2", "f5", "f9", "f10", "f11", "f12"}
