"""An import inside a caller's transaction (`catalog.transaction()`) whose batch fails to
store because of one record's values: on its own the writer splits the batch until that
record is alone and rejects it, storing the rest; inside a caller's transaction it cannot
(DuckDB has no savepoints: the engine refuses `SAVEPOINT`, checked here), so the import
fails with an error that says so and what to do, and the block rolls back whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import workbench
from workbench.errors import IngestError
from workbench.ingest import writer as writer_module
from workbench.ingest.writer import CatalogWriter
from workbench.model.records import Frame, Source


def _frame(frame_id: str) -> Frame:
    return Frame(id=frame_id, sources=[Source(id="cam", uri=f"s3://b/{frame_id}.jpg")])


def _failing_on(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    """Writes of a batch holding frame `bad` fail as the engine fails on a value."""
    store = writer_module.store_queued

    def failing(catalog: Any, counted: Any, con: Any, frames: Any, *rest: Any) -> Any:
        if bad in frames["id"].to_pylist():
            raise duckdb.ConversionException(f"cannot store frame {bad!r}")
        return store(catalog, counted, con, frames, *rest)

    monkeypatch.setattr(writer_module, "store_queued", failing)


def test_duckdb_has_no_savepoints() -> None:
    con = duckdb.connect()
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ParserException):
        con.execute("SAVEPOINT before_a_record")


def test_on_its_own_the_failing_record_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_on(monkeypatch, "b")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            for f in "abc":
                writer.add(_frame(f))
        assert writer.report.frames == 2 and writer.report.rejected == 1
        assert catalog.sql("SELECT count(*) FROM frames").fetchall()[0][0] == 2


def test_inside_a_transaction_the_import_fails_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the import failed with the nested block's CatalogError ("a transaction
    nested in this one failed: it rolls back whole"), which named neither the record nor
    what to do."""
    _failing_on(monkeypatch, "b")
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        with (
            pytest.raises(IngestError) as failed,
            catalog.transaction(),
            CatalogWriter(catalog, progress=False) as writer,
        ):
            for f in "abc":
                writer.add(_frame(f))
        message = str(failed.value)
        assert "frame 'a' to frame 'c'" in message and "cannot store frame 'b'" in message
        assert "no savepoints" in message and "outside the transaction" in message
        assert catalog.sql("SELECT count(*) FROM frames").fetchall()[0][0] == 0
