"""Fixtures of the evaluation tests: a generated COCO dataset imported into a real catalog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eval_data import Dataset, import_dataset, make_dataset

import workbench
from workbench.store.catalog import Catalog


@pytest.fixture(scope="session")
def box_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    folder = tmp_path_factory.mktemp("evaluation")
    data = make_dataset(folder / "data", seed=31, images=40, busy_images=1, write_images=True)
    path = folder / "boxes.duckdb"
    import_dataset(data, path).close()
    return data, path


@pytest.fixture
def catalog(box_dataset: tuple[Dataset, Path], tmp_path: Path) -> Iterator[Catalog]:
    """A fresh copy of the catalog (ground truth and predictions, nothing evaluated yet)."""
    path = tmp_path / "boxes.duckdb"
    shutil.copyfile(box_dataset[1], path)
    with workbench.open(path) as cat:
        yield cat
