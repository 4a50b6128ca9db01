"""The items' metadata keys of scenes the strict parse takes are checked with the items: given
once each when the metadata is flat and has exactly the keys of the batch's first item
(`vouched`, no second parse), else by one `json_keys` of the scene's items (METADATA_KEYS).
Whatever the keys, SQL takes what the per-record path stores alike, and leaves it the rest."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

import workbench
from workbench.ingest import _nucleus_sql as sql
from workbench.ingest._columnar import MemoryEngine
from workbench.ingest._nucleus_convert import _tails, convert
from workbench.ingest.nucleus import import_files

from .nucleus_scenes import per_record, stored_rows

# Metadata texts beside a batch whose first item's keys are `camera` and `n`: whether the
# conversion may vouch for its keys without a second parse, and whether SQL takes its scene.
METADATA = {
    "the keys": ('{"camera": "front", "n": 1}', True, True),
    "the keys, other order and values": ('{"n": -2.5e-3, "camera": null}', True, True),
    "a key escaped": ('{"c\\u0061mera": "x", "n": 1}', True, True),
    "a value escaped": ('{"camera": "a\\"b", "n": 1}', False, True),
    "a value looking like keys": ('{"camera": "x\\",\\"n\\":1", "n": 1}', False, True),
    "a value with a colon and brace": ('{"camera": "x:{y", "n": 1}', False, True),
    "one more key": ('{"camera": "x", "n": 1, "z": 2}', False, True),
    "a key fewer": ('{"camera": "x"}', False, True),
    "empty": ("{}", False, True),
    "null": ("null", True, True),
    "nested, once each": ('{"camera": {"k": 1}, "n": 1}', False, True),
    "a list": ('{"camera": [1, 2], "n": 1}', False, True),
    "a key twice": ('{"camera": "x", "n": 1, "camera": "y"}', False, False),
    "a key twice, another missing": ('{"camera": "x", "camera": "yy"}', False, False),
    "a key twice, once escaped": ('{"camera": "x", "n": 1, "c\\u0061mera": "y"}', False, False),
    "nested twice": ('{"camera": {"k": 1, "k": 2}, "n": 1}', False, False),
    "twice in a list": ('{"camera": [{"k": 1, "k": 2}], "n": 1}', False, False),
}


def _item(n: int, metadata: str) -> str:
    return f'{{"reference_id": "f{n}", "image_location": "s3://b/{n}.jpg", "metadata": {metadata}}}'


def _scene(name: str, items: list[str]) -> str:
    return (
        f'{{"reference_id": "{name}", "frame_rate": 10, "metadata": {{"site": "a"}}, '
        f'"frames": [{", ".join(items)}]}}'
    )


def _engine_lines(lines: list[str]) -> pa.Table:
    return pa.table(
        {
            "n": pa.array(range(1, len(lines) + 1), pa.int64()),
            "j": pa.array(lines, pa.string()),
            "marked": pa.array([False] * len(lines)),
        }
    )


def _lines() -> list[str]:
    first = _scene("first", [_item(0, METADATA["the keys"][0])])
    return [first] + [
        _scene(f"s{i}", [_item(10 + i, METADATA["the keys"][0]), _item(100 + i, text)])
        for i, (text, _, _) in enumerate(METADATA.values())
    ]


def test_what_is_vouched_for_and_what_is_taken() -> None:
    lines = _lines()
    with MemoryEngine(sql.MACROS, threads=1) as con:
        con.register("_wb_lines", _engine_lines(lines))
        _, scenes = convert(con)
        con.execute(sql.SCENES)
        rows = con.execute("SELECT n, rate, scene_meta FROM _nu_s WHERE ok").fetchall()
        con.register("_nu_tails", _tails(rows))
        keys = sql.usable_keys(con.execute(sql.KEYS).fetchall()[0][0])
        assert keys == ("camera", "n")
        items = con.sql(sql.items(keys)).to_arrow_table()
    vouched = dict(zip(items["id"].to_pylist(), items["vouched"].to_pylist(), strict=True))
    names = list(METADATA)
    assert {names[i] for i in range(len(names)) if vouched[f"f{100 + i}"]} == {
        name for name, (_, sure, _) in METADATA.items() if sure
    }
    assert {names[n - 2] for n in scenes if n > 1} == {
        name for name, (_, _, taken) in METADATA.items() if taken
    }


@pytest.mark.parametrize(
    ("first", "keys"),
    [
        ('{"camera": "x", "n": 1}', ("camera", "n")),
        ("{}", ()),
        ('{"a b": 1}', None),  # a name no path may hold as it is: no key set
        ('{"n": 1, "n": 2}', None),  # given twice: no key set (and not taken)
        ('"text"', ("camera", "n")),  # not an object: the next line's first item's
    ],
)
def test_the_batch_key_set(first: str, keys: tuple[str, ...] | None) -> None:
    lines = [_scene("first", [_item(0, first)]), *_lines()[1:]]
    with MemoryEngine(sql.MACROS, threads=1) as con:
        con.register("_wb_lines", _engine_lines(lines))
        con.execute(sql.SCENES)
        found = con.execute(sql.KEYS).fetchall()
        assert sql.usable_keys(found[0][0] if found else None) == keys
        _, scenes = convert(con)
    names = list(METADATA)
    assert {names[n - 2] for n in scenes if n > 1} == {
        name for name, (_, _, taken) in METADATA.items() if taken
    }


def _random_lines(seed: int) -> tuple[list[str], dict[str, str]]:
    """Scenes of items whose metadata texts are METADATA's and two with promoted keys, drawn
    at random (the first item's too), and each item's text by its id."""
    rng = random.Random(seed)
    texts = [text for text, _, _ in METADATA.values()]
    texts += ['{"weather": "rain", "camera": "x"}', '{"weather": 3, "n": 1}']
    lines, given = [], {}
    for s in range(30):
        items = []
        for f in range(rng.randint(1, 6)):
            given[f"f{s * 10 + f}"] = text = rng.choice(texts)
            items.append(_item(s * 10 + f, text))
        lines.append(_scene(f"scene{s}", items))
    return lines, given


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_stored_as_the_per_record_path_stores(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "scenes.ndjson"
    lines, given = _random_lines(seed)
    path.write_text("\n".join(lines) + "\n")
    with workbench.open(tmp_path / "sql.duckdb") as catalog:
        report = import_files(catalog, [path], progress=False)
        stored = stored_rows(catalog)
        metadata = dict(catalog.sql("SELECT id, metadata FROM frames").fetchall())
    with workbench.open(tmp_path / "per-record.duckdb") as catalog:
        errors = [str(e) for e in per_record(catalog, path).errors]
        expected = stored_rows(catalog)
    assert stored == expected
    assert [str(e) for e in report.errors] == errors
    twice = [i for i, text in given.items() if text == METADATA["a key twice"][0]]
    assert twice and all(json.loads(metadata[i])["camera"] == "y" for i in twice)  # the last
