"""A snapshot of an Iceberg lake with delete files is refused, never read wrong.

pyiceberg writes copy-on-write only (as the catalog's writes do), so the positional delete
file a merge-on-read writer (Spark, Flink) would leave is made here by hand: a real Parquet
delete file, committed in a delete manifest through pyiceberg's own snapshot producer, which
pyiceberg's reader then applies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.query.query_catalog import build_catalog
from workbench.errors import LakeError
from workbench.store.lake_iceberg import IcebergFormat, default_catalog
from workbench.store.lake_write import open_for_lake

_DELETE_SCHEMA = pa.schema(
    [
        pa.field("file_path", pa.string(), False, {"PARQUET:field_id": "2147483546"}),
        pa.field("pos", pa.int64(), False, {"PARQUET:field_id": "2147483545"}),
    ]
)


def delete_first_row(table: Any, folder: Path) -> None:
    """Commit a positional delete of the first row of one of `table`'s data files."""
    from pyiceberg.manifest import (
        DataFile,
        DataFileContent,
        FileFormat,
        ManifestContent,
        ManifestWriterV2,
    )
    from pyiceberg.table.update import snapshot

    target = next(iter(table.scan().plan_files())).file
    path = str(folder / "pos-delete-0.parquet")
    rows = pa.table({"file_path": [target.file_path], "pos": [0]}, schema=_DELETE_SCHEMA)
    pq.write_table(rows, path)
    deletes = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=target.partition,
        record_count=1,
        file_size_in_bytes=os.path.getsize(path),
    )
    deletes.spec_id = target.spec_id

    class DeleteManifests(ManifestWriterV2):  # pyiceberg 0.10 writes data manifests only
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    original = snapshot.write_manifest
    snapshot.write_manifest = lambda **kw: DeleteManifests(  # type: ignore[assignment]
        kw["spec"], kw["schema"], kw["output_file"], kw["snapshot_id"], kw["avro_compression"]
    )
    try:
        with table.transaction() as tx, tx.update_snapshot().fast_append() as append:
            append.append_data_file(deletes)
    finally:
        snapshot.write_manifest = original


def test_a_snapshot_with_delete_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    build_catalog(path).close()
    root = tmp_path / "lake"
    open_for_lake(str(path), str(root), attach=False, buckets=1, progress=False, fmt="iceberg")
    with workbench.open(path) as catalog:
        count = catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0]
        rois = IcebergFormat(str(root), default_catalog(str(path))).table("rois")
        delete_first_row(rois, tmp_path)
        rois.refresh()
        assert len(rois.scan().to_arrow()) == count - 1  # a real delete: pyiceberg applies it
        with pytest.raises(LakeError, match="delete files at snapshot"):
            catalog.refresh_lake()
        assert catalog.sql("SELECT count(*) FROM rois").fetchall()[0][0] == count  # still pinned
    with pytest.raises(LakeError, match="delete files"):
        workbench.open(path)
