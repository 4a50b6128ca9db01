"""The catalog the HTTP API's security tests serve (the `api` recipe of tests/catalogs.py).

`build_catalog` writes 12 frames in 3 contexts of 4, one image file and one box each;
`prepare_work` then gives a copy something for every method to find: a project 'p' with
batch 'b1', three scenes placed as inputs, annotation runs 'run1' and 'run2', a frame tag
and a saved view.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.services import Workbench

SAVED_VIEW = "saved-1"


def build_catalog(folder: Path) -> Path:
    """12 frames in 3 contexts of 4, one image file and one box each."""
    media = folder / "media"
    media.mkdir(parents=True)
    path = folder / "api.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(12):
            image = media / f"{i:02d}.jpg"
            image.touch()  # the local platform checks that a scene's images exist
            writer.add(
                Frame(
                    f"f{i}",
                    context_id=f"c{i // 4}",
                    timestamp=i,
                    sources=[Source("image", str(image), 64, 48)],
                    rois=[Roi("b0", "box", ["car"], geometry=[box_ring(1, 2, 10, 10)])],
                )
            )
    return path


@dataclasses.dataclass(frozen=True)
class Work:
    """What prepare_work made: ids for calls that should find something."""

    scene_uuids: tuple[str, ...]
    input_uuids: tuple[str, ...]
    task_id: str


def prepare_work(catalog: workbench.Catalog) -> Work:
    """A project 'p' with batch 'b1', three scenes placed as inputs, runs 'run1' and 'run2',
    the frame tag 'kept' on f3 and the saved view SAVED_VIEW."""
    wb = Workbench(catalog, actor="setup")
    wb.create_project("p")
    wb.create_batch("p", external_id="b1")
    scenes = wb.create_scenes_from_frames(["f0", "f1", "f2"])
    inputs = wb.create_inputs_from_scenes("p", scene_uuids=[s.uuid for s in scenes])
    wb.annotate(["f4", "f5", "f6", "f7"], "run1", label_field="ground_truth")
    wb.annotate(["f8", "f9"], "run2", label_field="ground_truth")
    wb.tag_frames(["f3"], "kept")
    wb.save_view(SAVED_VIEW, catalog.view().match_tags("kept"))
    return Work(
        scene_uuids=tuple(s.uuid for s in scenes),
        input_uuids=tuple(i.uuid for i in inputs),
        task_id=wb.list_tasks("run1")[0].task_id,
    )


def table_counts(path: Path) -> dict[str, int]:
    with workbench.open(path) as catalog:
        con = catalog.cursor()
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY 1"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
