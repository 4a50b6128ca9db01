"""A writer commits its writes and nothing more unless it has something to save at its end."""

from pathlib import Path

import pytest

import workbench
from workbench.ingest import CatalogWriter, Frame, Source
from workbench.model.keypoints import KeypointLabel


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        yield cat


def _frames(count: int, **fields) -> list[Frame]:
    return [
        Frame(id=f"f{i}", sources=[Source("cam", f"/d/{i}.jpg")], **fields) for i in range(count)
    ]


def test_an_import_naming_no_dataset_commits_its_batches_only(catalog):
    before = catalog.generation
    with CatalogWriter(catalog, progress=False, batch_size=2) as writer:
        for frame in _frames(5):
            writer.add(frame)
    assert writer.report.frames == 5
    assert catalog.generation - before == 3  # batches of 2, 2 and 1; nothing after them
    assert catalog.sql("SELECT count(*) FROM frames").fetchall() == [(5,)]


def test_datasets_and_keypoints_named_are_still_saved_at_the_end(catalog):
    before = catalog.generation
    with CatalogWriter(catalog, progress=False, batch_size=2) as writer:
        for frame in _frames(3, dataset="d1", version="v1"):
            writer.add(frame)
        writer.add_keypoint_labels([KeypointLabel("person", ("nose", "eye"), ((0, 1),))])
    assert catalog.generation - before == 3  # two batches, then what the import named
    assert catalog.sql("SELECT id FROM datasets").fetchall() == [("d1",)]
    assert catalog.sql("SELECT dataset, version FROM dataset_versions").fetchall() == [("d1", "v1")]
    assert catalog.sql("SELECT label, names FROM keypoint_labels").fetchall() == [
        ("person", ["nose", "eye"])
    ]
