import json
import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from workbench.cli import main, parse_options
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    path = tmp_path / "c.duckdb"
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as writer:
        for i in range(3):
            writer.add(
                Frame(
                    id=f"f{i}",
                    context_id="ctx",
                    sources=[Source("front", f"/d/{i}.jpg", 64, 48)],
                    rois=[Roi("r", "box", ["car"], geometry=[box_ring(1, 1, 5, 5)])],
                    metadata={"weather": "rain" if i else "clear"},
                )
            )
    return path


def test_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("demo", "ingest", "export", "sql", "info", "optimize", "serve"):
        assert command in out


def test_sql_formats(catalog_path, capsys):
    q = "SELECT id, weather FROM frames ORDER BY id"
    assert main(["sql", q, "--catalog", str(catalog_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"id": "f0", "weather": "clear"},
        {"id": "f1", "weather": "rain"},
        {"id": "f2", "weather": "rain"},
    ]
    assert main(["--catalog", str(catalog_path), "sql", q, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["id,weather", "f0,clear", "f1,rain", "f2,rain"]
    assert main(["sql", q, "--catalog", str(catalog_path), "--limit", "1"]) == 0
    table = capsys.readouterr().out
    assert "f0" in table and "f1" not in table and "2 more rows" in table


def test_sql_refuses_writes_with_exit_2(catalog_path, capsys):
    assert main(["sql", "DELETE FROM frames", "--catalog", str(catalog_path)]) == 2
    assert "only queries can run here" in capsys.readouterr().err
    with workbench.open(catalog_path) as cat:
        assert cat.sql("SELECT count(*) FROM frames").fetchall() == [(3,)]


def test_catalog_from_environment(catalog_path, capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CATALOG", str(catalog_path))
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["frames"], info["contexts"], info["rois"]) == (3, 1, 3)
    assert info["path"] == str(catalog_path)


def test_options_are_json_when_they_parse():
    assert parse_options(["a=1", "b=true", "c=x", "d=[1,2]", "field-name=p"]) == {
        "a": 1,
        "b": True,
        "c": "x",
        "d": [1, 2],
        "field_name": "p",
    }
    with pytest.raises(workbench.WorkbenchError, match="KEY=VALUE"):
        parse_options(["novalue"])


def test_optimize_rewrites_and_promotes(tmp_path, capsys):
    path = tmp_path / "o.duckdb"
    with workbench.open(path) as cat, CatalogWriter(cat, progress=False) as writer:
        for i in range(40):  # too few frames for writes to promote keys themselves
            writer.add(
                Frame(
                    id=f"f{i}",
                    sources=[Source("front", f"/d/{i}.jpg", 64, 48)],
                    metadata={"scene": f"s{i % 3}"},
                )
            )
    with workbench.open(path) as cat:
        assert cat.sql("SELECT count(*) FROM metadata_columns").fetchall() == [(0,)]
    assert main(["optimize", "--catalog", str(path)]) == 0
    out = capsys.readouterr().out
    assert "40 frames" in out and "metadata keys promoted: scene" in out
    with workbench.open(path) as cat:
        assert cat.sql("SELECT key FROM metadata_columns").fetchall() == [("scene",)]
        assert cat.view().match(scene="s1").count() == 13
    assert main(["optimize", "--catalog", str(path)]) == 0
    assert "metadata keys promoted: none" in capsys.readouterr().out
