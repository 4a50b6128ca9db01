"""An import's `field` option is checked before anything is read: a name the catalog cannot
hold (a control or bidirectional character, empty, too long, not text) stops the import with
one IngestError naming the character, for every format that takes the option. Before, COCO
stored its ROIs under such a name and Nucleus annotations refused every frame one by one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import importer
from workbench.store.imports import list_imports

FORMATS = ("coco", "nucleus_annotations", "labelbox", "cvat_xml", "labelstudio_json")
BAD: list[tuple[Any, str]] = [
    ("bad\u202efield", "U+202E"),
    ("tab\there", "U+0009"),
    ("", "is empty"),
    ("x" * 10_000, "characters long"),
    (7, "must be a string"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("field", "said"), BAD)
def test_a_field_the_catalog_cannot_hold_stops_the_import(
    tmp_path: Path, fmt: str, field: Any, said: str
) -> None:
    given = tmp_path / "given.json"
    given.write_text("[]")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with pytest.raises(IngestError, match=re.escape(said)) as raised:
            importer(fmt)(catalog, [given], progress=False, field=field)
        assert f"{fmt} import: field" in str(raised.value)
        assert list_imports(catalog) == []
        assert catalog.sql("SELECT count(*) FROM rois").fetchall() == [(0,)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_good_field_is_taken(tmp_path: Path, fmt: str) -> None:
    given = tmp_path / "given.json"
    given.write_text("[]")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        try:
            importer(fmt)(catalog, [given], progress=False, field="model_b-2 (night)")
        except IngestError as exc:  # the file's own fault, if any, never the field's
            assert "import: field" not in str(exc)
