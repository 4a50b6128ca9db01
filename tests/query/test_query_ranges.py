"""Numbers in ranges: match_range over columns and metadata keys, numeric keys, histograms
(on the UI tests' catalog: timestamps 0-400 per context, metadata without numbers, and a
numeric metadata key added here)."""

from typing import Any

import pytest

from workbench.errors import QueryError
from workbench.query import View
from workbench.query.ranges import NumericKey, numeric_keys, value_histogram
from workbench.store.catalog import Catalog
from workbench.store.layout import touch


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    catalog = make_catalog("ui")
    ids = [r[0] for r in catalog.sql("SELECT id FROM frames").fetchall()]
    # metadata changed in place: the store is told (layout.touch; a lake checks the frames out)
    with catalog.transaction() as con, catalog.editing(con, ids):
        touch(con, "SELECT id FROM frames")
        con.execute(
            "UPDATE frames SET metadata = json_merge_patch(metadata,"
            " json_object('speed', CAST(timestamp / 10 AS INTEGER), 'odd', 'x'))"
        )
    return catalog


def test_match_range_on_a_column_and_a_metadata_key(catalog: Catalog):
    view = View(catalog)
    assert view.match_range("timestamp", 100, 200).count() == 10
    assert view.match_range("timestamp", max=0).count() == 5
    assert view.match_range("speed", 30).count() == 8  # 30 and 40 in the four sequences
    assert view.match_range("odd", 0).count() == 0  # not a number: fails every range
    spec = view.match_range("speed", 10, 20).to_dict()
    assert spec["stages"] == [{"stage": "match_range", "key": "speed", "min": 10, "max": 20}]
    assert View.from_dict(catalog, spec).count() == 10
    with pytest.raises(QueryError, match=r"min 3\.0 is above max 1\.0"):
        view.match_range("speed", 3, 1)
    with pytest.raises(QueryError, match="needs numbers"):
        view.match_range("speed", "3")  # type: ignore[arg-type]


def test_numeric_keys_and_histograms(catalog: Catalog):
    keys = {k.key: k for k in numeric_keys(View(catalog))}
    assert set(keys) == {"timestamp", "speed"}  # frame_index and num_frames are empty here
    assert keys["speed"] == NumericKey("speed", 0.0, 40.0)
    bins = value_histogram(View(catalog).match(weather="rain"), "speed", 0, 40, 4).to_pylist()
    assert [(b["bin_start"], b["bin_end"], b["count"]) for b in bins] == [
        (0.0, 10.0, 4),  # rain is on frames 0, 2 and 4 of each sequence: speed 0, 20, 40
        (10.0, 20.0, 0),
        (20.0, 30.0, 4),
        (30.0, 40.0, 4),  # 40 falls in the last bin
    ]
