"""What a transaction reads of the layout's state before its COMMIT, and the groups counted
when one group holds every frame: fewer statements, the same catalog."""

from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Source


def _write(catalog, count: int, **fields) -> None:
    with CatalogWriter(catalog, progress=False, batch_size=count) as writer:
        for i in range(count):
            writer.add(Frame(id=f"f{i}", sources=[Source("cam", f"/d/{i}.jpg")], **fields))


def test_a_transaction_writing_no_frames_reads_the_layouts_state_once(tmp_path: Path, seen):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _write(catalog, 3)
        seen.clear()
        with catalog.transaction() as con:
            con.execute("SELECT 42")
        assert seen[0] == "BEGIN TRANSACTION" and seen[1] == "SELECT 42"
        assert seen[-1] == "COMMIT"
        # what is left to key, the next frame key and the summaries' mark in one statement,
        # then the frames named since (none)
        assert len(seen[2:-1]) == 2, seen[2:-1]
        assert seen[-2] == "SELECT count(*) FROM _summary_pending"


def test_frames_inserted_unkeyed_are_still_keyed_and_summarised(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _write(catalog, 3, metadata={"weather": "rain"})
        with catalog.transaction() as con:  # rows without keys: `layout.sync` keys them
            con.execute(
                "INSERT INTO frames (id, context_id, weather, ingested)"
                " VALUES ('g', 'ctx-g', 'snow', now())"
            )
        keys = catalog.sql("SELECT id, frame_key FROM frames ORDER BY frame_key").fetchall()
        assert keys == [("f0", 0), ("f1", 1), ("f2", 2), ("g", 3)]
        assert catalog.sql("SELECT value FROM meta WHERE key = 'next_frame_key'").fetchall() == [
            ("4",)
        ]
        assert catalog.sql(
            "SELECT context_id, frames FROM context_summaries ORDER BY context_id"
        ).fetchall() == [("/d/0.jpg", 1), ("/d/1.jpg", 1), ("/d/2.jpg", 1), ("ctx-g", 1)]
        counted = catalog.sql(
            "SELECT k.weather, c.frames FROM value_counts c JOIN value_keys k USING (values_key)"
            " ORDER BY 1"
        ).fetchall()
        assert counted == [("rain", 3), ("snow", 1)]


def test_one_group_is_counted_without_joining_its_frames_to_it(tmp_path: Path, seen):
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        _write(catalog, 4, metadata={"weather": "rain"})
        seen.clear()
        assert catalog.count_groups() == 1
        # the frames (no ROIs: not copied into a table first) read once for every count
        assert not [s for s in seen if "_wb_group_frames AS" in s]
        made = [s for s in seen if "_wb_group_sets AS" in s]
        assert len(made) == 1 and " JOIN _group_rows g ON " not in made[0], made
        assert "GROUPING SETS" in made[0] and "FROM frames f" in made[0]
        with catalog.cursor() as con:
            rows = con.execute("SELECT weather, _wb_frames FROM _frame_groups").fetchall()
            assert rows == [("rain", 4)]
            assert con.execute("SELECT count(*) FROM _group_contexts").fetchall() == [(4,)]
