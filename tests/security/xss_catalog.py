"""A catalog whose every data-derived value is an XSS payload, built as a person's data arrives.

Frames come through the real importers (ClearML NDJSON and a COCO instances file written
here, with real JPEG files whose names are payloads too); tags, a saved view, projects,
batches, inputs and annotation runs through the real service (`Workbench`) and store. Each
value starts with a short tag naming the field it is in (`L` label, `W` weather...) so a test
can look for that value on screen, then carries one of the attacks below. A value that runs
sets `window.__xss`.

What is where (ids as the constants below):

context C1 (ClearML, 3 frames FRAMES, source SOURCE, metadata WEATHER, TIME_OF_DAY, CAMERA,
            LOCATION and key METAKEY, ROIs: LABEL box with attribute ATTR_KEY=ATTR_VALUE,
            POLY_LABEL polygon, BADGE classification and PRED_LABEL box in field FIELD;
            tagged TAG)
context URI_CONTEXT (ClearML, no context_id: the context is the picture's path, whose file
            name is a payload; one frame F2 with a LABEL box; its scene is an input of
            PROJECT / BATCH)
context of the COCO image (file name COCO_IMAGE; frame COCO_FRAME; label COCO_LABEL;
            metadata key "license" = COCO_LICENSE)
run RUN on C1's FIELD (project PROJECT, batch BATCH): its task was edited and is done, so
    loading it gives a merge report with an added box, a rejected relabel and an unexpected
    polygon
run EDIT_RUN on C1, made by actor ACTOR: classes LABEL and EXTRA_CLASS, attributes
    ATTR_SELECT (select: ATTR_VALUE, ATTR_OTHER) and ATTR_TEXT (text); its task is open
saved view VIEW (weather = W)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

import workbench
from workbench.backends import LocalBackend
from workbench.ingest import clearml, coco
from workbench.services import Workbench

# -- the attacks: each sets window.__xss when it runs ------------------------------------------
IMG = "<img src=x onerror=window.__xss=1>"
SVG = "<svg onload=window.__xss=1>"
SCRIPT = '"><script>window.__xss=1</script>'
DQ_ATTR = '" onfocus=window.__xss=1 autofocus x="'  # breaks out of a "..." attribute
SQ_ATTR = "' onmouseover=window.__xss=1 x='"  # breaks out of a '...' attribute
LINK = "<a href=javascript:window.__xss=1>a</a>"
MD_LINK = "[m](javascript:window.__xss=1)"
MD_IMAGE = '![i](x"onerror="window.__xss=1)'
TEMPLATE = "{{constructor.constructor('window.__xss=1')()}}"
DOLLAR = "${window.__xss=1}"

# -- the values --------------------------------------------------------------------------------
C1 = "C1" + SVG
FRAMES = tuple(f"F1{IMG}#{i}" for i in range(3))
SOURCE = "S" + SCRIPT
LABEL = "L" + IMG
POLY_LABEL = "P" + MD_LINK
BADGE = "B" + SVG
PRED_LABEL = "Q" + TEMPLATE
FIELD = "F" + DQ_ATTR
ATTR_KEY = "A" + SQ_ATTR
ATTR_VALUE = "V" + LINK
WEATHER = "W" + IMG
TIME_OF_DAY = "T" + SVG
CAMERA = "K" + MD_IMAGE
LOCATION = "O" + TEMPLATE + DOLLAR
METAKEY = "M" + IMG
PICTURE = "u" + IMG + ".jpg"  # a file name: no slash in it
F2 = "F2" + SVG
COCO_FILE = "k" + SVG + ".json"  # its stem is the COCO frames' id prefix
COCO_IMAGE = "i" + IMG + ".jpg"
COCO_FRAME = "k" + SVG + ":1"
COCO_LABEL = "Y" + IMG
COCO_LICENSE = "Z" + SVG
TAG = "G" + SVG
VIEW = "N" + SCRIPT
PROJECT = "J" + SVG
BATCH = "H" + DQ_ATTR
RUN = "R" + IMG
EDIT_RUN = "E" + SVG
ACTOR = "U" + IMG
EXTRA_CLASS = "X" + DOLLAR
ATTR_SELECT = "s" + SQ_ATTR
ATTR_OTHER = "o" + TEMPLATE
ATTR_TEXT = "t" + IMG
WIDTH, HEIGHT = 96, 64


@dataclass(frozen=True)
class XssCatalog:
    path: Path
    media: Path
    uri_context: str  # the context id of F2: the path of PICTURE
    coco_context: str  # the context id of COCO_FRAME: the path of COCO_IMAGE
    input_uuid: str  # F2's input in PROJECT / BATCH


def _jpeg(path: Path, color: tuple[int, int, int]) -> str:
    Image.new("RGB", (WIDTH, HEIGHT), color).save(path, format="JPEG", quality=80)
    return path.name


def _box(x0: int, y0: int, x1: int, y1: int) -> list[int]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _clearml_frames(media: Path) -> list[dict[str, object]]:
    frames: list[dict[str, object]] = []
    for i, frame_id in enumerate(FRAMES):
        name = _jpeg(media / f"c1-{i}.jpg", (30 + 60 * i, 90, 120))
        frames.append(
            {
                "id": frame_id,
                "context_id": C1,
                "timestamp": 1_700_000_000_000 + 100 * i,
                "meta": {
                    "weather": WEATHER,
                    "time_of_day": TIME_OF_DAY,
                    "camera": CAMERA,
                    "location": LOCATION,
                    METAKEY: "m" + SVG,
                },
                "sources": [
                    {
                        "id": SOURCE,
                        "uri": name,
                        "width": WIDTH,
                        "height": HEIGHT,
                        "content_type": "image/jpeg",
                    },
                ],
                "rois": [
                    {
                        "id": f"box{i}",
                        "label": [LABEL],
                        "poly": _box(10, 10, 60, 50),
                        "meta": {ATTR_KEY: ATTR_VALUE},
                    },
                    {
                        "id": f"poly{i}",
                        "label": [POLY_LABEL],
                        "poly": [64, 5, 90, 5, 90, 40, 70, 30, 64, 20],
                    },
                    {"id": f"badge{i}", "label": [BADGE], "meta": {"_field": FIELD}},
                    {
                        "id": f"pred{i}",
                        "label": [PRED_LABEL],
                        "poly": _box(12, 12, 58, 48),
                        "confidence": 0.4,
                        "meta": {"_field": FIELD},
                    },
                ],
            }
        )
    picture = _jpeg(media / PICTURE, (200, 120, 40))
    frames.append(
        {
            "id": F2,
            "timestamp": 5,
            "sources": [{"uri": picture, "width": WIDTH, "height": HEIGHT}],
            "rois": [{"id": "f2box", "label": [LABEL], "poly": _box(5, 5, 40, 40)}],
        }
    )
    return frames


def _coco_file(folder: Path) -> Path:
    images = folder / "images"
    images.mkdir(parents=True)
    _jpeg(images / COCO_IMAGE, (20, 160, 60))
    instances = {
        "images": [
            {"id": 1, "file_name": COCO_IMAGE, "width": WIDTH, "height": HEIGHT,
             "license": COCO_LICENSE},
        ],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [8, 8, 30, 20]}],
        "categories": [{"id": 3, "name": COCO_LABEL, "supercategory": "y" + IMG}],
    }  # fmt: skip
    path = folder / COCO_FILE
    path.write_text(json.dumps(instances))
    return path


def build_xss_catalog(folder: Path) -> XssCatalog:
    """Import the files, then tag, save a view and make the runs through the service."""
    media = folder / "media"
    media.mkdir(parents=True)
    ndjson = media / "frames.ndjson"
    ndjson.write_text("".join(json.dumps(f) + "\n" for f in _clearml_frames(media)))
    path = folder / "xss.duckdb"
    with workbench.open(path) as catalog:
        for report in (
            clearml.import_files(catalog, [ndjson], progress=False),
            coco.import_files(catalog, [_coco_file(folder / "coco")], progress=False),
        ):
            assert not report.errors, report.errors
        wb = Workbench(catalog, actor="setup", backends={"local": LocalBackend()})
        wb.tag_frames(list(FRAMES), TAG)
        wb.save_view(VIEW, catalog.view().match(weather=WEATHER))
        uri_context = str(media / PICTURE)
        input_uuid = _prepare_runs(wb, uri_context)
    coco_context = str(folder / "coco" / "images" / COCO_IMAGE)
    return XssCatalog(path, media, uri_context, coco_context, input_uuid)


def _prepare_runs(wb: Workbench, uri_context: str) -> str:
    wb.create_project(PROJECT)
    wb.create_batch(PROJECT, external_id=BATCH)
    wb.annotate(
        list(FRAMES), RUN, label_field=FIELD, label_type="detections",
        classes=[PRED_LABEL, EXTRA_CLASS], allow_label_edits=False, project=PROJECT, batch=BATCH,
    )  # fmt: skip
    (task,) = wb.list_tasks(RUN)
    shapes = wb.get_task_annotations(task.task_id)
    box = next(s for s in shapes if s.label == PRED_LABEL)
    edited = [dataclasses.replace(box, label=EXTRA_CLASS)]  # a relabel the run refuses
    edited += [s for s in shapes if s is not box]
    edited.append(
        dataclasses.replace(box, id=None, geometry=(tuple(map(float, _box(1, 1, 9, 9))),))
    )
    edited.append(
        dataclasses.replace(
            box, id=None, kind="polygon", geometry=((1.0, 1.0, 9.0, 1.0, 5.0, 8.0),)
        )
    )  # a polygon in a detections field: unexpected
    wb.save_task_annotations(task.task_id, edited)
    wb.complete_task(task.task_id)

    wb.as_actor(ACTOR).annotate(
        list(FRAMES), EDIT_RUN, label_field="ground_truth", label_type="detections",
        classes=[LABEL, EXTRA_CLASS],
        attributes={ATTR_SELECT: {"type": "select", "values": [ATTR_VALUE, ATTR_OTHER]},
                    ATTR_TEXT: {"type": "text"}},
    )  # fmt: skip
    (scene,) = wb.create_scenes_from_contexts([uri_context])
    (placed,) = wb.create_inputs_from_scenes(PROJECT, batch=BATCH, scene_uuids=[scene.uuid])
    return placed.uuid
