"""The frame groups' contexts, value counts and range bins counted from one scan of each
stretch of frames (grouping sets) are what each is by its own definition over the frames:
a group's distinct contexts, its frames by each kept column's value (missing values
included), its frames by grid bin of each kept numeric key; with and without ROIs, and
with a stretch of fewer frames than the catalog holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.model.geometry import box_ring
from workbench.store import groups


def _write(catalog: Any, count: int, rois: bool) -> None:
    with CatalogWriter(catalog, progress=False, batch_size=400) as writer:
        for i in range(count):
            metadata: dict[str, Any] = {"weather": ("rain", "snow", "clear")[i % 3]}
            if i % 7:  # some frames lack each key: a missing value is counted too
                metadata["fps"] = 10 + i % 2
            if i % 5:
                metadata["speed"] = (i * 37) % 90 + 0.5
            if i % 11 == 0:
                metadata["speed"] = "fast"  # text among numbers: in no bin
            writer.add(
                Frame(
                    id=f"f{i}",
                    context_id=f"scene{i // 90}",
                    timestamp=i * 40 if i % 13 else None,
                    frame_index=i % 90,
                    metadata=metadata,
                    sources=[Source("cam", f"/d/{i}.jpg")],
                )
            )
    if rois:  # labels on stored frames (the keys were promoted by the frames' write)
        with CatalogWriter(catalog, progress=False) as writer:
            for i in range(0, count, 4):
                ring = box_ring(0, 0, 10, 10)
                box = Roi("r", "box", ["car"], "gt", [ring], confidence=0.25 + i % 3 / 4)
                writer.add_labels(f"f{i}", "gt", [box])


def _stored(catalog: Any) -> dict[str, list[tuple[Any, ...]]]:
    with catalog.cursor() as con:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            for table in ("_group_contexts", "_group_values", "_group_ranges")
        }


def _by_definition(catalog: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The three tables as each is defined, read from the frames joined to their groups."""
    with catalog.cursor() as con:
        columns = [str(c) for c in _columns(con)]
        on = " AND ".join(f'g."{c}" IS NOT DISTINCT FROM f."{c}"' for c in columns) or "TRUE"
        joined = f"frames f JOIN _group_rows g ON {on}"
        contexts = con.execute(
            f"SELECT DISTINCT g._wb_group, f.context_key FROM {joined} ORDER BY ALL"
        ).fetchall()
        values = []
        for no, column in con.execute("SELECT * FROM _group_value_keys").fetchall():
            values += con.execute(
                f'SELECT g._wb_group, {no}, CAST(f."{column}" AS VARCHAR), count(*)'
                f" FROM {joined} GROUP BY ALL"
            ).fetchall()
        ranges = []
        for no, column, low, high, bins in con.execute(
            "SELECT * FROM _group_range_keys"
        ).fetchall():
            x = f'TRY_CAST(f."{column}" AS DOUBLE)'
            ranges += con.execute(
                f"SELECT g._wb_group, {no}, least(CAST(floor(({x} - ?) / ?) AS INTEGER),"
                f" {bins - 1})::SMALLINT, count(*) FROM {joined}"
                f" WHERE {x} BETWEEN ? AND ? GROUP BY ALL",
                [low, (high - low) / bins, low, high],
            ).fetchall()
    return {
        "_group_contexts": contexts,
        "_group_values": sorted(values, key=repr),
        "_group_ranges": sorted(ranges),
    }


def _columns(con: Any) -> list[str]:
    import orjson

    return list(orjson.loads(con.execute("SELECT columns FROM _groups").fetchall()[0][0]))


@pytest.mark.parametrize("rois", [False, True], ids=["without ROIs", "with ROIs"])
@pytest.mark.parametrize("stretch", [groups.STRETCH, 250], ids=["one stretch", "stretches"])
def test_the_groups_counts_from_one_scan_are_their_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rois: bool, stretch: int
):
    monkeypatch.setattr(groups, "STRETCH", stretch)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _write(catalog, 1_100, rois)
        assert catalog.count_groups() == 9  # weather by fps (10, 11 or none)
        stored, expected = _stored(catalog), _by_definition(catalog)
        assert stored["_group_contexts"] == expected["_group_contexts"]
        assert sorted(stored["_group_values"], key=repr) == expected["_group_values"]
        assert stored["_group_ranges"] == expected["_group_ranges"]
        assert len(stored["_group_values"]) > 9 and len(stored["_group_ranges"]) > 27
        with catalog.cursor() as con:
            assert bool(con.execute("SELECT count(*) FROM _group_codes").fetchall()[0][0]) == rois
