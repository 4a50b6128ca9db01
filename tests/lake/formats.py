"""Reading and writing a test's lake tables directly, as another process would, in either
table format (store/lake_format.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from workbench.store.lake_format import TableFormat, open_format
from workbench.store.lake_iceberg import default_catalog


def tables(lake: Path, fmt: str, catalog: Path | None = None) -> TableFormat:
    """The lake at `lake` (an Iceberg one's SQL catalog beside `catalog`, by default the
    `lake.duckdb` next to it, as `make_pair` makes it)."""
    catalog = catalog or lake.parent / "lake.duckdb"
    return open_format(fmt, str(lake), default_catalog(str(catalog)) if fmt == "iceberg" else None)


def read_rows(lake: TableFormat, name: str) -> pa.Table:
    """The table's rows at its latest version, every column."""
    if lake.kind == "delta":
        return lake.table(name).to_pyarrow_table()  # type: ignore[attr-defined, no-any-return]
    return lake.table(name).scan().to_arrow()  # type: ignore[attr-defined, no-any-return]


def commits(lake: TableFormat, name: str) -> int:
    """How many commits the table has seen (an Iceberg commit may add two snapshots, a
    delete and an append, and always writes one metadata file)."""
    if lake.kind == "delta":
        return lake.version(name)
    return len(lake.table(name).metadata.metadata_log)  # type: ignore[attr-defined]
