"""Reads shared by the served sessions of a catalog, kept per catalog version."""

from typing import Any

import pytest

from workbench.query import View
from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.shared import catalog_version, kept_read, shared_read


def test_a_served_read_is_kept_until_the_catalog_changes(catalog: Catalog):
    reads: list[int] = []

    def read() -> list[str]:
        reads.append(1)
        return [str(len(reads))]

    first = shared_read(catalog, ("test", 1), read, served=True)
    assert shared_read(catalog, ("test", 1), read, served=True) is first
    assert kept_read(catalog, ("test", 1), served=True) is first
    assert len(reads) == 1
    # another key is read on its own; a caller that is not served never shares
    shared_read(catalog, ("test", 2), read, served=True)
    assert shared_read(catalog, ("test", 1), read, served=False) == ["3"]
    assert kept_read(catalog, ("test", 1), served=False) is None
    # a write moves the version on: the next read asks the catalog again
    version = catalog_version(catalog)
    frame_id = str(View(catalog).frame_ids()[0])
    Workbench(catalog).tag_frames([frame_id], "seen")
    assert catalog_version(catalog) > version
    assert kept_read(catalog, ("test", 1), served=True) is None
    assert shared_read(catalog, ("test", 1), read, served=True) == ["4"]


def test_a_failed_read_is_not_kept(catalog: Catalog):
    def fail() -> Any:
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            shared_read(catalog, ("test", "fails"), fail, served=True)
    assert kept_read(catalog, ("test", "fails"), served=True) is None
