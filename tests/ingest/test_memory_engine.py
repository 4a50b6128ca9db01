"""The importers' in-memory engine: reads only the files it is given, and spills to a folder
of its own that is gone once it closes, failed or not."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.ingest._columnar import MemoryEngine


def _spill_folders(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("wb-test-*"))


def test_the_spill_folder_lives_as_long_as_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    allowed = tmp_path / "allowed.csv"
    allowed.write_text("a\n1\n")
    other = tmp_path / "other.csv"
    other.write_text("a\n2\n")
    with MemoryEngine(files=[str(allowed)], memory_limit="64MB", spill="wb-test-") as con:
        (folder,) = _spill_folders(tmp_path)
        assert con.sql("SELECT current_setting('temp_directory')").fetchall()[0][0] == str(folder)
        # Spill: a sort far over the limit still runs.
        rows = con.sql(
            "SELECT count(*) FROM (SELECT range::VARCHAR || repeat('x', 40) AS s "
            "FROM range(3000000) ORDER BY s DESC)"
        ).fetchall()
        assert rows == [(3_000_000,)]
        assert con.sql(f"SELECT a FROM read_csv('{allowed}')").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error):
            con.sql(f"SELECT a FROM read_csv('{other}')").fetchall()
    assert _spill_folders(tmp_path) == []


def test_a_failed_setup_leaves_no_spill_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(duckdb.Error):
        MemoryEngine("CREATE MACRO broken(", spill="wb-test-")
    assert _spill_folders(tmp_path) == []


def test_only_the_budget_can_change_once_the_engine_is_set_up() -> None:
    engine = MemoryEngine(memory_limit="1GB")
    with engine as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)")
        engine.hold_to("64MB")
        limit = con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert limit.startswith("61") and "MiB" in limit  # 64 MB in MiB
        assert con.sql("SELECT count(*) FROM t").fetchall() == [(100000,)]
        for setting in ("threads = 1", "enable_external_access = true", "allowed_configs = []"):
            with pytest.raises(duckdb.InvalidInputException, match="configuration"):
                con.execute(f"SET {setting}")
        with pytest.raises(ValueError, match="a memory limit"):
            engine.hold_to("1GB'; SET threads = 1; --")
