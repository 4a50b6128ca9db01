"""An error other than Ctrl-C after a lake-backed catalog's write made its lake commits and
before the catalog's COMMIT (the block raising after `editing`, a statement failing) rolls the
catalog back while the lake keeps the rows. Those commits are undone (store/lake_repair.py),
so the next open shows none of the block's rows: no frame keyed at or past the catalog's next
frame key, which the next write would hand to other frames. tests/store/test_lake_repair.py
checks the rest (the catalog exactly as if the block never ran).

Real lake files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from workbench.store import layout
from workbench.store.lake_write import open_for_lake


def test_the_next_open_keys_what_a_failed_block_left_in_the_lake(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    workbench.open(path).close()
    open_for_lake(str(path), str(tmp_path / "lake"), attach=False, buckets=1, progress=False)
    catalog = workbench.open(path)
    with pytest.raises(ValueError), catalog.transaction() as con:
        with catalog.editing(con, ["x"]):
            con.execute("INSERT INTO frames (id, context_id) VALUES ('x', 'x')")
        raise ValueError("the block failed after the lake's commits")
    catalog.close()
    with workbench.open(path) as catalog:
        con = catalog.cursor()
        top = layout.next_frame_key(con)
        keys = con.execute("SELECT id, frame_key FROM frames").fetchall()
        assert all(key is not None and key < top for _, key in keys), (keys, top)
        assert "x" not in [frame_id for frame_id, _ in keys]
