"""A small catalog whose every frame is written out here, so expected results can be read off.

id  context  ts   weather speed   ground_truth ROIs             predictions ROIs (confidence)
f0  ctx-a    103  rain    5       car (area 100)                car .9
f1  ctx-a    102  sun     10      car, person                   person .3, car .2
f2  ctx-a    101  rain    2       -                             car .5
f3  ctx-a    100  fog     -       truck (polygon, box area 100) -
f4  ctx-b    200  rain    7.5     person (point)                person .95
f5  ctx-b    -    sun     "fast"  -                             -
f6  ctx-b    201  rain    1       -                             car 1.0, car 0.0
f7  ctx-c    300  sun     3       car                           car .45
f8  ctx-c    301  -       3       -                             day .7 (classification)
f9  (uri)    50   rain    true    bus                           -

Frame tags: f0 review; f1 review, bad; f4 bad. ROI tag: "check" on f2's ROI (not a frame tag).
"""

from pathlib import Path
from typing import Any

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.catalog import Catalog


def box(
    rid: str, label: str, field: str = "ground_truth", conf: float | None = None, w: float = 10
):
    return Roi(rid, "box", [label], field, [box_ring(0, 0, w, 10)], confidence=conf)


def pred(rid: str, label: str, conf: float) -> Roi:
    return box(rid, label, "predictions", conf, w=5)


ROIS: dict[str, list[Roi]] = {
    "f0": [box("f0-g1", "car"), pred("f0-p1", "car", 0.9)],
    "f1": [
        box("f1-g1", "car"),
        box("f1-g2", "person"),
        pred("f1-p1", "person", 0.3),
        pred("f1-p2", "car", 0.2),
    ],
    "f2": [pred("f2-p1", "car", 0.5)],
    "f3": [Roi("f3-g1", "polygon", ["truck"], geometry=[[0, 0, 10, 0, 10, 10]])],
    "f4": [Roi("f4-g1", "point", ["person"], geometry=[[3, 4]]), pred("f4-p1", "person", 0.95)],
    "f5": [],
    "f6": [pred("f6-p1", "car", 1.0), pred("f6-p2", "car", 0.0)],
    "f7": [box("f7-g1", "car"), pred("f7-p1", "car", 0.45)],
    "f8": [Roi("f8-p1", "classification", ["day"], "predictions", confidence=0.7)],
    "f9": [box("f9-g1", "bus")],
}

FRAMES: list[dict[str, Any]] = [
    {
        "id": "f0",
        "ctx": "ctx-a",
        "ts": 103,
        "meta": {"weather": "rain", "speed": 5, "odd key'\"/~": "q"},
    },
    {"id": "f1", "ctx": "ctx-a", "ts": 102, "meta": {"weather": "sun", "speed": 10}},
    {"id": "f2", "ctx": "ctx-a", "ts": 101, "meta": {"weather": "rain", "speed": 2}},
    {"id": "f3", "ctx": "ctx-a", "ts": 100, "meta": {"weather": "fog"}},
    {"id": "f4", "ctx": "ctx-b", "ts": 200, "meta": {"weather": "rain", "speed": 7.5}},
    {"id": "f5", "ctx": "ctx-b", "ts": None, "meta": {"weather": "sun", "speed": "fast"}},
    {"id": "f6", "ctx": "ctx-b", "ts": 201, "meta": {"weather": "rain", "speed": 1}},
    {"id": "f7", "ctx": "ctx-c", "ts": 300, "meta": {"weather": "sun", "speed": 3}},
    {"id": "f8", "ctx": "ctx-c", "ts": 301, "meta": {"speed": 3}},
    {"id": "f9", "ctx": None, "ts": 50, "meta": {"weather": "rain", "speed": True}},
]

ALL = [f["id"] for f in FRAMES]
F9_CONTEXT = "/data/f9.jpg"

FRAME_TAGS = [("f0", "review"), ("f1", "review"), ("f1", "bad"), ("f4", "bad")]


def build_catalog(path: Path) -> Catalog:
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for f in FRAMES:
            writer.add(
                Frame(
                    id=f["id"],
                    context_id=f["ctx"],
                    timestamp=f["ts"],
                    metadata=f["meta"],
                    dataset="ds2" if f["id"] == "f9" else "ds1",
                    sources=[Source("cam", f"/data/{f['id']}.jpg", 640, 480)],
                    rois=ROIS[f["id"]],
                )
            )
    with catalog.transaction() as con:
        for frame_id, tag in FRAME_TAGS:
            con.execute("INSERT INTO tags (frame_id, tag) VALUES (?, ?)", [frame_id, tag])
        con.execute("INSERT INTO tags (frame_id, roi_id, tag) VALUES ('f2', 'f2-p1', 'check')")
    return catalog


def rows(catalog: Catalog, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Hand-written SQL, to check the view's answers against."""
    return catalog.cursor().execute(query, params or []).fetchall()
