"""Range histograms of views made of whole frame groups, read from the histograms stored with
the groups (store/group_ranges.py), equal those counted from the frames, values on bin edges
included; in both storage modes (`WORKBENCH_TEST_STORAGE=lake`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.catalogs import to_storage
from tests.lake.test_lake_groups import CAMERAS, GROUPED, WEATHER, _views
from tests.store.test_layout import _frame
from workbench.ingest import CatalogWriter
from workbench.query import groups as frame_groups
from workbench.query import ranges
from workbench.query.ranges import numeric_keys, value_histogram
from workbench.query.stages import key_column
from workbench.store import group_ranges, group_values, groups
from workbench.store.catalog import Catalog

FRAMES = 121  # timestamps 0-120: 24 bins of 5, so many values lie on a bin's edge
MERGED = (3, 24, 192)  # the stored grid's 192 bins merged by a power of two
OTHER = (20, 7)  # not: the frames are read


def _speed(i: int) -> float:
    """Quarters from 0 to 24 (97 values: a promoted column, too many for a group column)."""
    return (i * 37) % 97 / 4


def _fill(path: Path, first: int, count: int) -> None:
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(first, first + count):
            labels = [("ground_truth", ["car", "dog"][i % 2], None)]
            metadata: dict[str, Any] = {
                "weather": WEATHER[(i // 3) % 3],
                "road": f"r{i % 2}",
                "speed": _speed(i),
            }
            if i in (7, 50, 51):  # a key too few frames hold to be promoted
                metadata["gear"] = f"g{i % 3}"
            if i % 5:
                metadata["camera"] = CAMERAS[i % 2]
            frame = dataclasses.replace(_frame(i, labels, **metadata), frame_index=i % 9)
            writer.add(frame)
            if i % 10 == 9:
                writer.flush()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "ranges.duckdb"
    _fill(path, 0, FRAMES)
    to_storage(path)
    with workbench.open(path) as catalog:
        assert "speed" in catalog.optimize()  # promoted, and the groups counted
    return path


def _kept(catalog: Catalog) -> groups.Tables:
    return groups.LAKE if catalog.lake is not None else groups.LOCAL


def _histograms(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Every view's histogram of every numeric key: over the key's bounds in merged and other
    numbers of bins, and over a range inside them."""
    keys = numeric_keys(catalog.view())
    found = {}
    for name, view in _views(catalog).items():
        for k in keys:
            asked = [(k.low, k.high, b) for b in (*MERGED, *OTHER)]
            asked.append((k.low + 1, k.high - 1, 24))
            for low, high, bins in asked:
                rows = value_histogram(view, k.key, low, high, bins).to_pylist()
                found[f"{name} {k.key} {low}-{high}/{bins}"] = rows
    return found


def _served(catalog: Catalog) -> set[str]:
    """The (view, key, bins) the stored histograms answer over the key's bounds."""
    out = set()
    for name, view in _views(catalog).items():
        grouped = view.groups()
        if grouped is None:
            continue
        for k in numeric_keys(catalog.view()):
            for bins in (*MERGED, *OTHER):
                if ranges._stored(view, grouped, k.key, k.low, k.high, bins) is not None:
                    out.add(f"{name} {k.key} {bins}")
                # bounds other than the key's: never
                assert ranges._stored(view, grouped, k.key, k.low + 1, k.high, bins) is None
    return out


def test_stored_histograms_equal_the_frames_counts(path: Path) -> None:
    with workbench.open(path) as catalog:
        keys = {k.key: k for k in numeric_keys(catalog.view())}
        assert set(keys) == {"timestamp", "frame_index", "speed"}
        assert (keys["speed"].low, keys["speed"].high) == (0.0, 24.0)
        con = catalog.cursor()
        stored = {
            r[0]: (r[1], r[2])
            for r in con.execute(
                f"SELECT column_name, low, high FROM {_kept(catalog).range_keys}"
            ).fetchall()
        }
        # the bounds numeric_keys finds (the app's), the promoted column for the JSON key
        assert stored == {
            "timestamp": (0.0, 120.0),
            "frame_index": (0.0, 8.0),
            "metadata_speed": (0.0, 24.0),
        }
        served = _served(catalog)
        grouped = {name for name, g in GROUPED.items() if g}
        assert served == {f"{v} {k} {b}" for v in grouped for k in keys for b in MERGED}
        from_groups = _histograms(catalog)
        rain = from_groups["match speed 0.0-24.0/24"]
        assert sum(r["count"] for r in rain) == catalog.view().match(weather="rain").count()
        with catalog.transaction() as tx:  # the same histograms, counted from the frames
            groups.drop(tx, _kept(catalog))
        assert not _served(catalog)
        from_frames = _histograms(catalog)
    assert from_groups == from_frames
    # edges: a quarter of the speeds lie on a bin edge of 24 bins, all of them at 192
    assert any(r["count"] for h in from_frames.values() for r in h)


def test_keys_and_columns() -> None:
    columns = frozenset({"timestamp", "metadata", "metadata_speed", "weather"})
    promoted = {"speed": "metadata_speed"}
    assert key_column("timestamp", columns, promoted) == "timestamp"
    assert key_column("speed", columns, promoted) == "metadata_speed"
    assert key_column("metadata.speed", columns, promoted) == "metadata_speed"
    assert key_column("metadata.timestamp", columns, promoted) is None  # a JSON key
    assert key_column("weather", columns, promoted) is None  # promoted text
    assert key_column("gear", columns, promoted) is None  # JSON, not promoted
    assert group_ranges.merged(192, 24) == 8 and group_ranges.merged(192, 3) == 64
    assert group_ranges.merged(192, 12) == 16 and group_ranges.merged(192, 192) == 1
    assert group_ranges.merged(192, 20) is None and group_ranges.merged(192, 64) is None


def test_stale_or_older_groups_read_the_frames(path: Path) -> None:
    _fill(path, FRAMES, 30)  # larger timestamps and new speeds: the groups are stale
    with workbench.open(path) as catalog:
        rain = catalog.view().match(weather="rain")
        assert rain.groups() is None
        bins = value_histogram(rain, "timestamp", 0, 150, 24).to_pylist()
        rainy = [i for i in range(FRAMES + 30) if WEATHER[(i // 3) % 3] == "rain"]
        assert sum(r["count"] for r in bins) == len(rainy)
        assert bins[-1]["count"] == sum(1 for i in rainy if i >= 143.75)
        catalog.count_groups()  # the new bounds stored
        rain = catalog.view().match(weather="rain")
        assert rain.groups() is not None
        want = value_histogram(rain, "timestamp", 0, 150, 24).to_pylist()
        assert want == bins
        with catalog.transaction() as tx:  # groups counted before range histograms were kept
            tx.execute(f"DROP TABLE {_kept(catalog).range_keys}")
        rain = catalog.view().match(weather="rain")
        grouped = rain.groups()
        assert grouped is not None
        assert ranges._stored(rain, grouped, "timestamp", 0, 150, 24) is None
        assert value_histogram(rain, "timestamp", 0, 150, 24).to_pylist() == want


def _values(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    keys = ("speed", "metadata.speed", "road", "timestamp", "gear")
    return {
        f"{name} {key} {limit}": view.metadata_values(key, limit).to_pylist()
        for name, view in _views(catalog).items()
        for key in keys
        for limit in (3, 200)
    }


def test_promoted_keys_values_from_the_groups_equal_the_frames_counts(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summed: list[str] = []
    real = frame_groups.values

    def spying(view: Any, grouped: Any, column: str, limit: int) -> Any:
        found = real(view, grouped, column, limit)
        if found is not None:
            summed.append(column)
        return found

    monkeypatch.setattr(frame_groups, "values", spying)
    with workbench.open(path) as catalog:
        con = catalog.cursor()
        kept = con.execute(f"SELECT column_name FROM {_kept(catalog).value_keys}").fetchall()
        assert sorted(r[0] for r in kept) == ["metadata_road", "metadata_speed"]
        from_groups = _values(catalog)
        grouped = sum(1 for g in GROUPED.values() if g)
        # speed, metadata.speed and road in two limits for each grouped view; timestamp (a
        # column not counted) and gear (not promoted) read the frames
        assert len(summed) == grouped * 3 * 2
        assert len(from_groups["match speed 200"]) > 3  # speeds vary inside the groups
        with catalog.transaction() as tx:
            groups.drop(tx, _kept(catalog))
        from_frames = _values(catalog)
    assert len(summed) == grouped * 3 * 2
    assert from_groups == from_frames


def test_columns_of_too_many_rows_are_not_counted(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workbench.open(path) as catalog:
        made = len(catalog.cursor().execute(f"SELECT 1 FROM {_kept(catalog).rows}").fetchall())
        # road: 2 values (3 with NULL, estimated); speed: 97
        monkeypatch.setattr(group_values, "MAX_ROWS", 3 * made)
        catalog.count_groups()
        con = catalog.cursor()
        kept = con.execute(f"SELECT column_name FROM {_kept(catalog).value_keys}").fetchall()
        assert [r[0] for r in kept] == ["metadata_road"]
        rain = catalog.view().match(weather="rain")
        grouped = rain.groups()
        assert grouped is not None
        assert frame_groups.values(rain, grouped, "metadata_speed", 5) is None
        counted = rain.metadata_values("speed", 200).to_pylist()  # from the frames
        rainy = [i for i in range(FRAMES) if WEATHER[(i // 3) % 3] == "rain"]
        assert sum(r["count"] for r in counted) == len(rainy)
