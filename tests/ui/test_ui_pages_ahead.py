"""Pages of tiles read ahead (workbench.ui.pages_ahead): what is kept, and when it is not
used. Without a served session the reads run at once, so each step is seen as it ends."""

from typing import Any

import pytest

from workbench.query import View
from workbench.store.catalog import Catalog
from workbench.ui.media import ServedMediaUrls
from workbench.ui.pages_ahead import KEEP, PagesAhead
from workbench.ui.tiles import frame_tiles

SIZE = 10
SHAPE = ("frames", SIZE)


@pytest.fixture
def catalog(make_catalog: Any) -> Catalog:
    return make_catalog("ui-many")  # 105 frames: 11 pages of 10


def reader(view: View, read: list[int]) -> Any:
    media = ServedMediaUrls()

    def tiles_of(page: int) -> list[dict[str, Any]]:
        read.append(page)
        return frame_tiles(view, page * SIZE, SIZE, media)

    return tiles_of


def ids(tiles: list[dict[str, Any]] | None) -> list[str]:
    return [t["id"] for t in tiles or []]


def test_the_neighbours_are_read_once_and_are_the_pages_a_read_gives(catalog: Catalog):
    view, read = View(catalog), []
    tiles_of = reader(view, read)
    heard: list[list[str]] = []
    ahead = PagesAhead(catalog, on_read=lambda tiles: heard.append(ids(tiles)))
    ahead.keep(view, SHAPE, 3, tiles_of(3))
    ahead.read_around(view, SHAPE, 3, 11, tiles_of, 0.0)
    assert read == [3, 4, 2]
    assert heard == [ids(ahead.take(view, SHAPE, 4)), ids(ahead.take(view, SHAPE, 2))]
    assert ids(ahead.take(view, SHAPE, 4)) == ids(frame_tiles(view, 40, SIZE, ServedMediaUrls()))
    assert ids(ahead.take(view, SHAPE, 2)) == ids(frame_tiles(view, 20, SIZE, ServedMediaUrls()))
    assert ahead.take(view, SHAPE, 5) is None
    ahead.read_around(view, SHAPE, 3, 11, tiles_of, 0.0)
    assert read == [3, 4, 2]  # nothing read twice


def test_pages_outside_the_range_are_not_read(catalog: Catalog):
    view, read = View(catalog), []
    ahead = PagesAhead(catalog)
    ahead.read_around(view, SHAPE, 0, 1, reader(view, read), 0.0)
    assert read == []
    ahead.read_around(view, SHAPE, 10, 11, reader(view, read), 0.0)
    assert read == [9]


def test_at_most_keep_pages_are_kept(catalog: Catalog):
    view, read = View(catalog), []
    ahead = PagesAhead(catalog)
    for page in range(1, 9, 2):
        ahead.read_around(view, SHAPE, page, 11, reader(view, read), 0.0)
    kept = [p for p in range(11) if ahead.take(view, SHAPE, p) is not None]
    assert len(kept) == KEEP
    assert kept == sorted(read[-KEEP:])  # the last ones read


def test_another_view_shape_or_catalog_version_reads_again(catalog: Catalog):
    view, read = View(catalog), []
    ahead = PagesAhead(catalog)
    ahead.read_around(view, SHAPE, 3, 11, reader(view, read), 0.0)
    assert ahead.take(view, SHAPE, 4) is not None
    assert ahead.take(view, ("contexts", SIZE), 4) is None  # and forgotten
    assert ahead.take(view, SHAPE, 4) is None

    ahead.read_around(view, SHAPE, 3, 11, reader(view, read), 0.0)
    assert ahead.take(View(catalog), SHAPE, 4) is None  # a new query is a new View

    ahead.read_around(view, SHAPE, 3, 11, reader(view, read), 0.0)
    with catalog.transaction() as con:  # any write: labels may have changed
        con.execute("SELECT 1")
    assert ahead.take(view, SHAPE, 4) is None
