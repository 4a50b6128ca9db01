"""What the grid marks on each tile besides its picture: tags, annotation runs, invalidated
scenes.

Read after the page is on screen (in the background when served): the page's tiles come
first, their marks a moment later, sent apart (`TileGrid.marks_json`) so the page is not
sent twice. One tag query per page, and two service calls (scenes, then their inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.query.marks import tags_by

if TYPE_CHECKING:
    from workbench.query import View
    from workbench.services import WorkbenchService

MAX_MARKS = 4

# tile id -> [{"t": text, "k": kind}] with kind tag, run or invalid
Marks = dict[str, list[dict[str, str]]]


def tile_marks(
    view: View, service: WorkbenchService, tiles: Sequence[Mapping[str, Any]], mode: str
) -> Marks:
    """The marks of a page's tiles (contexts or frames)."""
    ids = [str(t["id"]) for t in tiles]
    if not ids:
        return {}
    by_context = mode == "contexts"
    marks: Marks = {i: [] for i in ids}
    for key, tag, n in tags_by(view, "context_id" if by_context else "id", ids):
        marks[key].append({"t": f"#{tag}" + (f" {n}" if by_context and n > 1 else ""), "k": "tag"})
    scenes = (
        service.find_scenes(context_ids=ids) if by_context else service.find_scenes(frame_ids=ids)
    )
    owners: dict[str, list[str]] = {}
    for scene in scenes:
        held = [scene.context_id] if by_context else [f for f in scene.frame_ids if f in marks]
        owners[scene.uuid] = [t for t in held if t in marks]
        if scene.invalidated:
            for tile in owners[scene.uuid]:
                marks[tile].append({"t": scene.status.removeprefix("invalidated:"), "k": "invalid"})
    live = [s.uuid for s in scenes if not s.invalidated]
    for item in service.query_inputs(scene_uuids=live) if live else []:
        if item.anno_key:
            for tile in owners.get(item.scene_uuid, []):
                mark = {"t": f"run {item.anno_key}", "k": "run"}
                if mark not in marks[tile]:
                    marks[tile].append(mark)
    first = {"invalid": 0, "run": 1, "tag": 2}
    return {
        tile: sorted(found, key=lambda m: first[m["k"]])[:MAX_MARKS]
        for tile, found in marks.items()
        if found
    }
