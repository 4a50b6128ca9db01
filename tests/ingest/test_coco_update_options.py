"""A COCO instances file imported again with other options stores what a first import with
those options stores: the images whose frames were made with the options of before are
converted again, however the options' values are spelled (no option given and the text
"None" are two options)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.ingest import coco


def _document() -> dict[str, Any]:
    return {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, 4)
        ],
        "annotations": [
            {"id": 10 + i, "image_id": i, "category_id": 1, "bbox": [1, 2, 10, 8]}
            for i in range(1, 4)
        ],
        "categories": [{"id": 1, "name": "car"}],
    }


def _frames(catalog: Any) -> list[tuple[str, str | None, str | None]]:
    return catalog.sql("SELECT id, dataset, version FROM frames ORDER BY id").fetchall()


def _update_and_first_import(
    tmp_path: Path, before: dict[str, Any], after: dict[str, Any]
) -> tuple[list, list]:
    """The frames of a catalog after importing the file with the options `before`, then
    `after`; and of a catalog that imported it only with `after`."""
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_document()))
    with workbench.open(tmp_path / "updated.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False, **before).ok
        assert coco.import_files(catalog, [path], progress=False, **after).ok
        updated = _frames(catalog)
    with workbench.open(tmp_path / "fresh.duckdb") as catalog:
        assert coco.import_files(catalog, [path], progress=False, **after).ok
        fresh = _frames(catalog)
    return updated, fresh


@pytest.mark.parametrize("option", ["dataset", "version"])
def test_an_option_given_as_the_text_none_is_not_taken_for_no_option(
    tmp_path: Path, option: str
) -> None:
    updated, fresh = _update_and_first_import(tmp_path, {}, {option: "None"})
    assert {row[1 if option == "dataset" else 2] for row in fresh} == {"None"}
    assert updated == fresh


@pytest.mark.parametrize("option", ["dataset", "version"])
def test_an_option_changed_is_stored_on_every_frame(tmp_path: Path, option: str) -> None:
    """The control of the test above: another value than "None" is stored."""
    updated, fresh = _update_and_first_import(tmp_path, {}, {option: "v2"})
    assert {row[1 if option == "dataset" else 2] for row in fresh} == {"v2"}
    assert updated == fresh
