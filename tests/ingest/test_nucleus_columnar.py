"""Nucleus scenes taken by SQL (NDJSON lines, JSON documents) store exactly what the
per-record path stores, and the scenes SQL leaves to it are rejected with the same errors
(file, line, scene, index, item)."""

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import _nucleus_columnar, _nucleus_convert
from workbench.ingest._columnar import PER_RECORD_PATTERN
from workbench.ingest._nucleus_columnar import ColumnarScenes
from workbench.ingest.nucleus import _SceneImport, import_files, read_scenes
from workbench.ingest.writer import CatalogWriter, RowBatch

from .nucleus_scenes import per_record, stored_rows

BOM = b"\xef\xbb\xbf"


def _item(rng: random.Random, s: int, f: int) -> object:
    ref = f"s{s}-{f}"
    item: dict = {"reference_id": ref, "image_location": f"s3://b/{s}/{f}.jpg"}
    pick = rng.random()
    if pick < 0.03:
        item["reference_id"] = f  # an integer reference_id
    elif pick < 0.05:
        del item["image_location"]
        item["url"] = f"https://h/{s}/{f}.PNG?x=1"
    elif pick < 0.07:
        item["metadata"] = {"scene": "own", "camera": "left"}
    elif pick < 0.09:
        item["metadata"] = {"weather": rng.choice(["rain", 3, 2.5, True, None, [1], {"a": 1}])}
    elif pick < 0.10:
        item["image_location"] = f"s3://b/{s}/{f}.tar.gz"
    elif pick < 0.11:
        item["reference_id"] = "bad\u202eid"
    elif pick < 0.12:
        item["reference_id"] = f"s{s}-0"  # twice in its scene (or taken by another scene)
    elif pick < 0.13:
        return rng.choice([3, "text", None, [1]])
    elif pick < 0.14:
        item["image_location"] = ""
    else:
        item["metadata"] = {"camera": rng.choice(["front", "rear", 7]), "n": f, "v": f / 3}
    return item


def _scene(rng: random.Random, s: int) -> object:
    frames = [_item(rng, s, f) for f in range(rng.randint(1, 12))]
    scene: dict = {"reference_id": f"scene-{s % 9}", "frame_rate": rng.choice([10, 29.97, 3])}
    scene["frames"] = frames
    pick = rng.random()
    if pick < 0.05:
        scene["frame_rate"] = rng.choice([0, -1, "10", None, True])
    elif pick < 0.1:
        scene["metadata"] = rng.choice([{"site": "a", "n": [1, {"b": None}]}, {}, None, "x"])
    elif pick < 0.13:
        scene["reference_id"] = rng.choice([s, "", None])
    elif pick < 0.15:
        scene["items"] = scene.pop("frames")
    elif pick < 0.17:
        scene["frames"] = []
    return scene


def _files(tmp_path: Path, seed: int, repeat: bool = True) -> tuple[Path, Path, int]:
    rng = random.Random(seed)
    scenes = [_scene(rng, s) for s in range(40)]
    lines = [json.dumps(s) for s in scenes]
    if repeat:
        lines = [_repeated_keys(line, n) for n, line in enumerate(lines)]
    lines[5] = '{"reference_id": "broken", "frames": ['  # not JSON
    ndjson = tmp_path / f"scenes-{seed}.ndjson"
    ndjson.write_bytes(
        BOM + "\n".join(lines[:20]).encode() + b"\n\n" + "\n".join(lines[20:]).encode()
    )
    document = tmp_path / f"scenes-{seed}.json"
    document.write_text("[" + ",\n".join([*lines[:5], "null", *lines[6:]]) + "]")
    return ndjson, document, len(lines)


def _repeated_keys(line: str, n: int) -> str:
    """Some scenes give a key twice, at every level: the last value is the one read."""
    first = {
        1: ('"image_location": ', '"image_location": "s3://dup/first.jpg", '),
        2: ('"frame_rate": ', '"frame_rate": 99, '),
        3: ('"camera": ', '"camera": "first", '),
        4: ('"reference_id": "s', '"reference_id": "first", '),
        5: ('"site": ', '"site": "first", '),
    }.get(n % 7)
    if first is None or first[0] not in line:
        return line
    key, value = first
    return line.replace(key, value + key, 1)


def _errors(report, ndjson: Path, document: Path) -> list[str]:
    """Errors with each scene named `#<index>` (line n of the NDJSON file holds scene n - 1
    up to line 20, then scene n - 2 after the blank line; item n of the document scene n)."""

    def scene(match: re.Match) -> str:
        n = int(match[1])
        return f"#{n - 1 if n <= 20 else n - 2}"

    out = []
    for error in report.errors:
        text = re.sub(rf"^{re.escape(str(ndjson))}:(\d+)", scene, str(error))
        out.append(re.sub(rf"^{re.escape(str(document))}\[(\d+)\]", r"#\1", text))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("update", [False, True])
def test_sql_and_per_record_paths_agree(tmp_path: Path, seed: int, update: bool) -> None:
    _paths_agree(tmp_path, seed, update)


@pytest.mark.parametrize("update", [False, True])
def test_paths_agree_when_stored_frames_are_read_again(
    tmp_path: Path, update: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small batches, and what is known of stored frames dropped after each (as on large
    files): the catalog is asked again, with the same results."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", 3)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_KNOWN", 1)
    _paths_agree(tmp_path, 5, update, refused_ids=False)


@pytest.mark.parametrize("update", [False, True])
def test_paths_agree_when_writes_cut_scenes(
    tmp_path: Path, update: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes of whole row groups (here 4 frames) cut scenes in two, and what is known of
    stored frames is dropped after each batch while rows are still held: the same results."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", 3)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_KNOWN", 1)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", 4)
    _paths_agree(tmp_path, 6, update, refused_ids=False)


@pytest.mark.parametrize("update", [False, True])
def test_writes_are_whole_row_groups(
    tmp_path: Path, update: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write but the last stores whole row groups (FRAMES_PER_WRITE frames each),
    whatever the scenes' sizes and however often what is known is dropped, and the frames keep the file's order;
    frames moved to other places on an update are stored where they moved."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", 2)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_KNOWN", 1)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", 4)
    sizes: list[int] = []
    write_rows = CatalogWriter.write_rows

    def counted(self: CatalogWriter, batch: RowBatch) -> None:
        sizes.append(batch.frames.num_rows)
        write_rows(self, batch)

    monkeypatch.setattr(CatalogWriter, "write_rows", counted)

    def scenes(order: list[int]) -> Path:
        lines = []
        for s, count in enumerate([3, 5, 2, 7, 1, 4]):
            frames = [{"reference_id": f"f{s}-{order[f % len(order)] if s == 3 else f}",
                       "image_location": f"s3://b/{s}/{f}.jpg"} for f in range(count)]  # fmt: skip
            lines.append(json.dumps({"reference_id": f"s{s}", "frame_rate": 10, "frames": frames}))
        path = tmp_path / "scenes.ndjson"
        path.write_text("\n".join(lines) + "\n")
        return path

    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = import_files(catalog, [scenes(list(range(7)))], progress=False)
        assert report.ok and report.frames == 22
        assert all(n % 4 == 0 for n in sizes[:-1]) and sum(sizes) == 22, sizes
        stored = catalog.sql("SELECT id FROM frames ORDER BY frame_key").fetchall()
        assert [r[0] for r in stored][:6] == ["f0-0", "f0-1", "f0-2", "f1-0", "f1-1", "f1-2"]
        if not update:
            return
        sizes.clear()  # scene s3's frames trade places
        again = import_files(catalog, [scenes([6, 5, 4, 3, 2, 1, 0])], progress=False, update=True)
        assert again.ok, again.errors
        rows = catalog.sql(
            "SELECT id, frame_index FROM frames WHERE context_id = 's3' ORDER BY frame_index"
        ).fetchall()
        assert [r[0] for r in rows] == [f"f3-{n}" for n in (6, 5, 4, 3, 2, 1, 0)]
        assert catalog.sql("SELECT count(*) FROM frames").fetchall()[0][0] == 22


def _paths_agree(tmp_path: Path, seed: int, update: bool, refused_ids: bool = True) -> None:
    ndjson, document, _ = _files(tmp_path, seed)
    if not refused_ids:
        # An id refused only when stored keeps its slot in the per-record path's memory,
        # not in the catalog, which is what is asked once that memory is dropped.
        for path in (ndjson, document):
            count = iter(range(10**6))
            text = re.sub(r"bad\\u202eid", lambda _, n=count: f"ok-{next(n)}", path.read_text())
            path.write_text(text)
    results = {}
    for path in (ndjson, document):
        for way in ("columnar", "per-record"):
            with workbench.open(tmp_path / f"{path.suffix[1:]}-{way}.duckdb") as catalog:
                reports = []
                for _ in range(2):
                    if way == "columnar":
                        reports.append(import_files(catalog, [path], progress=False, update=update))
                    else:
                        reports.append(per_record(catalog, path, update))
                results[path, way] = (stored_rows(catalog), reports)
    for path in (ndjson, document):
        (stored, reports), (expected, wanted) = (
            results[path, "columnar"],
            results[path, "per-record"],
        )
        assert stored == expected, path
        for a, b in zip(reports, wanted, strict=True):
            assert (a.frames, a.sources, a.rejected) == (b.frames, b.sources, b.rejected)
            assert [str(e) for e in a.errors] == [str(e) for e in b.errors]
    (stored_a, (first_a, again_a)) = results[ndjson, "columnar"]
    (stored_b, (first_b, again_b)) = results[document, "columnar"]
    assert stored_a == stored_b
    assert stored_a[0], "some frames are stored"
    for a, b in ((first_a, first_b), (again_a, again_b)):
        errors_a = _errors(a, ndjson, document)
        errors_b = _errors(b, ndjson, document)
        # The broken line is "not valid JSON" in one file and "null" in the other.
        assert [e for e in errors_a if not e.startswith("#5:")] == [
            e for e in errors_b if not e.startswith("#5:")
        ]


def test_a_repeated_key_keeps_its_last_value(tmp_path: Path) -> None:
    line = (
        '{"reference_id": "a", "reference_id": "s", "frame_rate": 1, "frame_rate": 4, '
        '"metadata": {"site": "x", "site": "y"}, "frames": [{"reference_id": "f0", '
        '"image_location": "s3://b/old.jpg", "image_location": "s3://b/0.jpg", '
        '"metadata": {"k": {"v": 1, "v": 2}, "k2": 1, "k2": 3}}]}'
    )
    (tmp_path / "s.ndjson").write_text(line + "\n")
    (tmp_path / "s.json").write_text("[" + line + "]")
    for name in ("s.ndjson", "s.json"):
        with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
            assert import_files(catalog, [tmp_path / name], progress=False).ok
            rows = catalog.sql(
                "SELECT f.id, f.context_id, f.timestamp, f.metadata, s.uri FROM frames f "
                "JOIN sources s ON s.frame_id = f.id"
            ).fetchall()
        (frame_id, context, timestamp, metadata, uri), *rest = rows
        assert not rest
        assert (frame_id, context, timestamp, uri) == ("f0", "s", 0, "s3://b/0.jpg")
        assert json.loads(metadata) == {"k": {"v": 2}, "k2": 3, "scene": {"site": "y"}, "fps": 4.0}


def test_plain_scenes_are_taken_by_sql(tmp_path: Path) -> None:
    ndjson, document, count = _files(tmp_path, 4, repeat=False)
    for name, path in (("c", ndjson), ("d", document)):
        with workbench.open(tmp_path / f"{name}.duckdb") as catalog:
            job = _SceneImport(catalog, update=True, progress=False, frames_dir=None, dataset="d1")
            with job.writer:
                scenes = ColumnarScenes(job)
                try:
                    if path == ndjson:
                        scenes.read(path)
                    else:
                        scenes.read_entries(read_scenes(path))
                finally:
                    scenes.close()
            assert scenes.sql_scenes > count // 3
            assert scenes.sql_scenes + scenes.record_scenes == count
            stored = catalog.sql("SELECT DISTINCT dataset FROM frames").fetchall()
            assert stored == [("d1",)]


def test_an_unchanged_file_imported_again_is_left_as_stored(tmp_path: Path) -> None:
    """Frames stored exactly as the file gives them (frame counts included) are not written
    again; a scene that grows gets the new count on every frame."""
    items = [{"reference_id": f"f{i}", "image_location": f"s3://b/{i}.jpg"} for i in range(5)]
    first, grown = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    first.write_text(json.dumps({"reference_id": "s", "frame_rate": 5, "frames": items[:3]}))
    grown.write_text(json.dumps({"reference_id": "s", "frame_rate": 5, "frames": items}))
    query = "SELECT id, num_frames, ingested FROM frames ORDER BY id"
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        assert import_files(catalog, [first], progress=False, update=True).ok
        stored = catalog.sql(query).fetchall()
        assert [n for _, n, _ in stored] == [3, 3, 3]
        assert import_files(catalog, [first], progress=False, update=True).ok
        assert catalog.sql(query).fetchall() == stored
        assert import_files(catalog, [grown], progress=False, update=True).ok
        assert [(i, n) for i, n, _ in catalog.sql(query).fetchall()] == [
            (f"f{i}", 5) for i in range(5)
        ]


@pytest.mark.parametrize("lines", [2, 200])
def test_an_update_leaves_scenes_stored_as_they_stand_unread(
    tmp_path: Path, lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an update, scenes the catalog holds as they stand are not read into memory, and
    the scenes after them that take their frames, their indexes or give them again still
    find them there: the same frames and errors as the per-record path."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)

    def scene(name: str, ids: list[str], rate: int = 10) -> str:
        frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
        return json.dumps({"reference_id": name, "frame_rate": rate, "frames": frames})

    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text("\n".join(scene(n, [f"{n}{i}" for i in range(3)]) for n in "abcdeg"))
    second.write_text(
        "\n".join(
            [
                scene("a", ["a0", "a1", "a2"]),  # as stored
                scene("b", ["b0", "b1", "b2"]),
                scene("e", ["e0", "e1", "e2"]),
                scene("a", ["a0", "a1", "a2"], rate=5),  # the same scene again
                scene("g", ["y0", "y1", "y2"]),  # replaces every frame of g
                scene("g", ["g0", "g1", "g2"]),  # and back again
                scene("d", ["d0", "b1", "d2"]),  # takes a frame of b
                scene("c", ["x0", "c1", "c2"]),  # another frame at index 0 of c
                scene("f", ["a2"]),  # a frame of a in a new scene
            ]
        )
    )
    loaded: list[str] = []
    load = _SceneImport._load_contexts

    def recorded(self: _SceneImport, contexts) -> None:
        contexts = list(contexts)
        loaded.extend(contexts)
        load(self, contexts)

    results = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            assert import_files(catalog, [first], progress=False, update=True).ok
            monkeypatch.setattr(_SceneImport, "_load_contexts", recorded)
            if way == "columnar":
                report = import_files(catalog, [second], progress=False, update=True)
            else:
                report = per_record(catalog, second, update=True)
            monkeypatch.setattr(_SceneImport, "_load_contexts", load)
            results.append((stored_rows(catalog), [str(e) for e in report.errors], report.frames))
            if way == "columnar":
                assert "e" not in loaded, loaded  # stored as it stands, never touched
                assert {"a", "b", "c"} <= set(loaded)
    assert results[0] == results[1]
    assert len(results[0][0][0]) == 17  # d1 and c0 replaced, x0 new


def _scene_line(name: str, ids: list, rate: int = 10) -> str:
    frames = [{"reference_id": i, "image_location": f"s3://b/{i}.jpg"} for i in ids]
    return json.dumps({"reference_id": name, "frame_rate": rate, "frames": frames})


@pytest.mark.parametrize("update", [False, True])
@pytest.mark.parametrize("lines", [2, 3])
@pytest.mark.parametrize("per_write", [2, 1000])
def test_scenes_placed_at_once_are_known_to_the_scenes_after_them(
    tmp_path: Path, update: bool, lines: int, per_write: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of new scenes are placed at once and their frames recorded only when asked:
    the scenes after them (in later batches, by SQL or by the per-record path, in the same
    file or the next; stored since or still held) that take their frames or their indexes,
    or come again, find them, with the per-record path's frames and errors."""
    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    monkeypatch.setattr(_nucleus_columnar, "FRAMES_PER_WRITE", per_write)
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text(
        "\n".join(
            [
                _scene_line("a", ["a0", "a1", "a2"]),
                _scene_line("b", ["b0", "b1"]),
                _scene_line("c", ["c0", "c1"]),
                _scene_line("f", ["f0", "f1"]),
                _scene_line("b", ["x0", "x1", "x2"]),  # b again: other frames, its indexes
                _scene_line("h", ["h0", "h1"]),
                _scene_line("d", ["d0", "a1"]),  # a frame of a
                _scene_line("i", ["i0", "i1"]),
                _scene_line("e", ["e0", 7]),  # per-record (an integer id)
                _scene_line("g", ["g0", "c1"]),
            ]
        )
    )
    second.write_text(
        "\n".join(
            [
                _scene_line("h", ["h0", "h1"]),  # as placed in the first file
                _scene_line("j", ["j0", "f1"]),
                _scene_line("k", ["k0", "k1"]),
                _scene_line("i", ["y0"]),
            ]
        )
    )
    results = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            reports = []
            for path in (first, second):
                if way == "columnar":
                    reports.append(import_files(catalog, [path], progress=False, update=update))
                else:
                    reports.append(per_record(catalog, path, update=update))
            errors = [[str(e) for e in r.errors] for r in reports]
            # (context_key numbers scenes in the order written, which the two paths' writes
            # around a replacement do not share)
            frames = catalog.sql(
                "SELECT * EXCLUDE (ingested, frame_key, context_key) FROM frames "
                "ORDER BY context_id, frame_index, id"
            ).fetchall()
            results.append((frames, stored_rows(catalog)[1], errors, [r.frames for r in reports]))
    assert results[0] == results[1]
    assert results[0][2][0] or update  # conflicts refused without update


def test_an_import_of_new_scenes_records_no_frame_in_python(tmp_path: Path) -> None:
    """New scenes of new frames, in batches that hold nothing else, are placed without
    recording a frame in Python: what is placed stays as Arrow columns, and the frames are
    stored as the per-record path stores them."""
    path = tmp_path / "s.ndjson"
    path.write_text(
        "\n".join(_scene_line(f"s{n}", [f"s{n}-{i}" for i in range(4)]) for n in range(5))
    )
    stored = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            if way == "per-record":
                assert per_record(catalog, path, update=False).ok
            else:
                job = _SceneImport(
                    catalog, update=False, progress=False, frames_dir=None, dataset=None
                )
                with job.writer:
                    scenes = ColumnarScenes(job)
                    try:
                        scenes.read(path)
                    finally:
                        scenes.close()
                assert scenes.sql_scenes == 5
                assert not job.by_id and not job.by_context
                assert job.known_frames() == 20
                job.known()  # recorded when asked
                assert job.by_id["s3-2"] == ("s3", 2) and job.by_context["s1"][3] == "s1-3"
            stored.append(stored_rows(catalog))
    assert stored[0] == stored[1] and len(stored[0][0]) == 20


def test_what_only_duckdbs_parser_takes_is_refused_as_json_refuses_it(tmp_path: Path) -> None:
    """DuckDB's JSON parser takes trailing commas, NaN, infinities and numbers past a
    double's range; JSON does not: such lines are refused with the per-record path's errors
    and nothing of them is stored (their metadata would not be JSON)."""

    def line(name: str, metadata: str = "{}", frames_end: str = "]") -> str:
        item = f'{{"reference_id": "{name}", "image_location": "s3://b/{name}.jpg", '
        item += f'"metadata": {metadata}}}'
        return f'{{"reference_id": "{name}", "frame_rate": 10, "frames": [{item}{frames_end}}}'

    lines = [
        line("a", frames_end=",]"),
        line("b", frames_end="], "),
        *(
            line(f"c{n}", f'{{"x": {value}}}')
            for n, value in enumerate(["NaN", "-Infinity", "[1, -inf]", "1e400", "nan"])
        ),
        # Such words in strings leave the scene to SQL, with the same result.
        line("d", '{"note": "information; nanometre 1e5"}'),
    ]
    assert not re.search(PER_RECORD_PATTERN, lines[-1])
    path = tmp_path / "lenient.ndjson"
    path.write_text("\n".join(lines) + "\n")
    results = _both_paths(tmp_path, path)
    assert results[0] == results[1]
    stored, errors = results[0]
    assert [row[0] for row in stored[0]] == ["d"]
    assert len(errors) == 7 and all("not valid JSON" in e for e in errors), errors


def test_rows_the_engine_gives_out_of_order_are_put_in_line_and_item_order() -> None:
    import pyarrow as pa

    rows = pa.table({"_line": [3, 1, 3, 1, 2], "frame_index": [1, 1, 0, 0, 0], "id": list("abcde")})
    ordered = _nucleus_convert.in_order(rows)
    assert ordered["id"].to_pylist() == ["d", "b", "e", "c", "a"]
    assert _nucleus_convert.in_order(ordered) is ordered


def test_characters_ids_and_uris_may_not_hold_are_refused_raw_or_escaped(tmp_path: Path) -> None:
    """Lines of ASCII text alone, without a backslash or DEL, are not searched for the
    characters ids and URIs may not hold (none can be there); a line holding DEL, other
    characters or escapes is searched: raw or escaped, such a character in an id or a URI is
    refused with the per-record path's error, and the rest of the file is stored the same."""
    bad = ["\x7f", "\u202e", "\x85", "\u200e", "\x1f"]

    def line(name: str, ident: str, uri: str) -> str:
        frames = [
            {"reference_id": ident, "image_location": uri},
            {"reference_id": f"{name}-ok", "image_location": f"s3://b/{name}.jpg"},
        ]
        scene = {"reference_id": name, "frame_rate": 10, "frames": frames}
        if not name.startswith("raw"):
            return json.dumps(scene)
        # json.dumps escapes control characters however asked: such a raw one is not JSON.
        return json.dumps(scene, ensure_ascii=False).replace("\\u001f", "\x1f")

    lines = [line("plain", "plain-0", "s3://b/plain-0.jpg")]
    for n, char in enumerate(bad):
        for way in ("raw", "escaped"):
            lines.append(line(f"{way}{n}-id", f"{way}{char}", f"s3://b/{way}{n}.jpg"))
            lines.append(line(f"{way}{n}-uri", f"{way}{n}-u", f"s3://b/{char}.jpg"))
    path = tmp_path / "characters.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = _both_paths(tmp_path, path)
    assert results[0] == results[1]
    stored, errors = results[0]
    ids = {row[0] for row in stored[0]}
    assert "plain-0" in ids and "raw0-id-ok" in ids
    assert not any(c in i for i in ids for c in bad)
    # Every such id is refused; URIs refuse the control characters (DEL and U+001F).
    assert len(errors) == 2 * len(bad) + 2 * 2, errors


@pytest.mark.parametrize("lines", [1, 3])
def test_scenes_sharing_places_with_other_frames_are_not_taken_as_they_stand(
    tmp_path: Path, lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scene whose frames are all stored at their places is taken as it stands on an
    update only when no other frame shares one of its places: a scene holding more frames
    than the file gives it is asked about each place, one holding exactly its frames is
    not; either way the same frames and errors as the per-record path."""
    from workbench.model.records import Frame

    monkeypatch.setattr(_nucleus_columnar, "LINES_PER_BATCH", lines)
    path = tmp_path / "scenes.ndjson"
    path.write_text(
        "\n".join(_scene_line(name, [f"{name}{i}" for i in range(3)]) for name in ("s", "t", "u"))
    )
    others = [("other", "s", 1), ("beyond", "t", 7)]  # at a place of s; in t, at no place of it
    results = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            assert import_files(catalog, [path], progress=False, update=True).ok
            with CatalogWriter(catalog, progress=False) as writer:
                for frame_id, context, index in others:
                    writer.add(Frame(id=frame_id, context_id=context, frame_index=index))
            if way == "columnar":
                report = import_files(catalog, [path], progress=False, update=True)
            else:
                report = per_record(catalog, path, update=True)
            results.append((stored_rows(catalog), [str(e) for e in report.errors], report.frames))
    assert results[0] == results[1]
    ids = {row[0] for row in results[0][0][0]}
    assert "beyond" in ids and "s1" in ids


def _both_paths(tmp_path: Path, path: Path) -> list[tuple[Any, list[str]]]:
    """What the columnar and the per-record paths store from `path`, and their errors."""
    results = []
    for way in ("columnar", "per-record"):
        with workbench.open(tmp_path / f"{way}.duckdb") as catalog:
            if way == "columnar":
                report = import_files(catalog, [path], progress=False)
            else:
                report = per_record(catalog, path, update=False)
            results.append((stored_rows(catalog), [str(e) for e in report.errors]))
    return results
