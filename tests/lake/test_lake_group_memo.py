"""Tag counts of a view the lake's frame groups answer equal a local catalog's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.lake.test_lake_groups import CAMERAS, WEATHER, _fill, _views
from tests.store.test_layout import _frame
from workbench.ingest.writer import CatalogWriter
from workbench.query import group_memo
from workbench.query.ranges import numeric_keys, value_histogram
from workbench.store.lake_write import open_for_lake
from workbench.store.tags import tag_frames, untag_frames


def _tag(catalog: Any, ids: list[str], tag: str, *, untag: bool = False) -> None:
    with catalog.transaction() as con:
        (untag_frames if untag else tag_frames)(con, ids, tag)


def _counts(catalog: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: v.tag_counts().to_pylist() for name, v in _views(catalog).items()}


def test_tag_counts_from_the_groups_equal_a_local_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local, 0, 48)
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    looked_up: list[int] = []
    real = group_memo._look_up
    monkeypatch.setattr(
        group_memo, "_look_up", lambda c, g, ids: looked_up.append(len(ids)) or real(c, g, ids)
    )
    with workbench.open(local) as a, workbench.open(lake) as b:
        for catalog in (a, b):
            _tag(catalog, [f"f{i}" for i in range(0, 48, 3)], "keep")
            _tag(catalog, [f"f{i}" for i in range(0, 48, 5)], "odd")
        want = _counts(a)
        assert any(want.values()) and _counts(b) == want
        assert looked_up == [len({*range(0, 48, 3), *range(0, 48, 5)})]  # each once
        # tags change: counted afresh, only new tagged frames looked up
        for catalog in (a, b):
            _tag(catalog, ["f1", "f2", "f3"], "new")
            _tag(catalog, ["f0", "f3"], "keep", untag=True)
        assert _counts(b) == _counts(a) != want
        assert looked_up[1:] == [2]  # f1, f2
    # a write moves the lake on: the groups are not current, the frames are read
    _fill(local, 48, 4)
    _fill(lake, 48, 4)
    with workbench.open(local) as a, workbench.open(lake) as b:
        _tag(a, ["f49"], "odd")
        _tag(b, ["f49"], "odd")
        assert _counts(b) == _counts(a)
        assert len(looked_up) == 2


def test_many_tagged_frames_read_the_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill(local, 0, 30)
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    monkeypatch.setattr(group_memo, "MAX_TAGGED", 3)
    with workbench.open(local) as a, workbench.open(lake) as b:
        for catalog in (a, b):
            _tag(catalog, [f"f{i}" for i in range(0, 30, 2)], "even")
        view = b.view().match(weather="rain")
        assert view.groups() is not None
        assert group_memo.tag_counts(view, view.groups()) is None
        assert _counts(b) == _counts(a)


def _fill_speed(path: Path, count: int) -> None:
    """_fill's frames with a numeric metadata key (some frames without it)."""
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(count):
            labels = [("ground_truth", ["car", "dog"][i % 2], None)]
            metadata: dict[str, Any] = {"weather": WEATHER[(i // 3) % 3], "road": f"r{i % 2}"}
            if i % 5:
                metadata["camera"] = CAMERAS[i % 2]
            if i % 7:
                metadata["speed"] = (i * 7) % 13 / 2
            writer.add(_frame(i, labels, **metadata))


def _histograms(catalog: Any, keys: list[Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        f"{name} {k.key} {bins}": value_histogram(v, k.key, k.low, k.high, bins).to_pylist()
        for name, v in _views(catalog).items()
        for k in keys
        for bins in (3, 24)
    }


def test_range_histograms_from_the_groups_equal_a_local_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, lake = tmp_path / "local.duckdb", tmp_path / "lake.duckdb"
    _fill_speed(local, 45)
    shutil.copyfile(local, lake)
    open_for_lake(str(lake), str(tmp_path / "lake"), attach=False, buckets=2, progress=False)
    runs: list[tuple[object, ...]] = []
    real = group_memo.per_group

    def counting(view: Any, groups: Any, name: tuple[object, ...], query: Any) -> Any:
        runs.append(name)
        return real(view, groups, name, query)

    monkeypatch.setattr(group_memo, "per_group", counting)
    with workbench.open(local) as a, workbench.open(lake) as b:
        keys = numeric_keys(a.view())
        assert {k.key for k in keys} == {"timestamp", "speed"}
        assert keys == numeric_keys(b.view())
        want = _histograms(a, keys)
        assert sum(r["count"] for h in want.values() for r in h) > 0
        assert _histograms(b, keys) == want
        grouped = sum(1 for v in _views(b).values() if v.groups() is not None)
        # timestamps are read from the groups' stored histograms (store/group_ranges.py);
        # speed, a metadata key not promoted, is counted per group once
        assert grouped >= 3 and len(runs) == grouped * 2
        known = group_memo._KNOWN[b]
        assert {n[1] for n in known.counted} == {"speed"}
        assert len(known.counted) == 2  # counted once per key and bins
        monkeypatch.setattr(group_memo, "MAX_COUNTED", 2)
        rain = _views(b)["match"]
        for bins in (5, 7, 9):  # bins the stored histograms do not merge into
            value_histogram(rain, "timestamp", 0, 44, bins)
        assert [n[-1] for n in known.counted] == [7, 9]  # the oldest forgotten
