"""COCO export's annotations: the ROIs of the field read a batch at a time in the view's
order (workbench.ingest._coco_export writes the images and the file around them), their
numbers and categories from narrow reads of a few columns first.

The geometry, attributes and masks of a view's ROIs are not held whole: the engine sorts
them (within its memory limit, spilling past it) and hands them over a batch at a time; each
batch's text is made by the engine (workbench.ingest._coco_export_sql) or row by row here,
written, and let go.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from workbench.ingest._coco_annotations import CATEGORY_KEYPOINTS, CATEGORY_SKELETON, Category
from workbench.ingest._coco_export_sql import ANNOTATIONS
from workbench.model import rle
from workbench.model.geometry import polygon_area
from workbench.model.keypoints import keypoint_triplets
from workbench.store.arrow import registered
from workbench.store.keypoints import keypoint_labels

# The ROI columns the annotations are made of, read in the view's order a batch at a time.
ROI_COLUMNS = (
    "label",
    "kind",
    "geometry",
    "confidence",
    "attributes",
    "mask",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "visibility",
)


_EXPORTED_KINDS = frozenset({"box", "polygon", "mask", "keypoints"})


# Attributes the exporter writes in their own places rather than as extra annotation keys.
_EXPORT_OWN = frozenset(
    {"category_id", "supercategory", "area", "iscrowd", CATEGORY_KEYPOINTS, CATEGORY_SKELETON}
)


# The ROIs' rows an annotation is made of, in the view's order, with their image's and
# category's numbers (`rois`: narrow.field_rois's read).
ANNOTATION_ROWS = (
    "SELECT i.image_id, c.category_id, "
    + ", ".join(f"r.{column}" for column in ROI_COLUMNS)
    + """ FROM ({rois}) r LEFT JOIN _wb_image_ids i ON i.id = r.frame_id
    LEFT JOIN _wb_category_ids c ON c.label = r.label ORDER BY r.o"""
)


def roi_numbers(con: Any, rois: str, params: Sequence[Any]) -> np.ndarray:
    """The numbers `_export_annotation_ids` gives the ROIs `rois` (narrow.field_rois's read),
    in the view's order: computed on their ids' column (`numbered`) when every id is ASCII
    and shorter than 19 digits, and no frame and id come twice; else by that loop itself.

    The numbers need every id of the view, but only their ids are held meanwhile. A text is
    ASCII when it has as many characters (code points) as bytes."""
    plain = f"""SELECT (SELECT count(*) FROM (SELECT DISTINCT frame_id, id FROM ({rois}) r))
            = count(*) AND coalesce(bool_and(strlen(id) = length(id)), true)
            AND NOT coalesce(bool_or(regexp_matches(id, '[0-9]{{19}}')), false)
        FROM ({rois}) r"""
    ((found,),) = con.execute(plain, [*params, *params]).fetchall()
    if found:
        ids = con.sql(f"SELECT id FROM ({rois}) r ORDER BY o", params=params).to_arrow_table()
        return numbered(ids["id"].combine_chunks())
    order = f"SELECT frame_id, id FROM ({rois}) r ORDER BY o"
    rows = con.sql(order, params=params).to_arrow_table()
    numbers = _export_annotation_ids(rows)
    keys = zip(rows["frame_id"].to_pylist(), rows["id"].to_pylist(), strict=True)
    return np.array([numbers[k] for k in keys], dtype=np.int64)


def write_annotations(
    con: Any,
    out: IO[str],
    reader: pa.RecordBatchReader,
    numbers: np.ndarray,
    categories: Mapping[str, Category],
    how: tuple[str, dict[str, int], bool],
) -> int:
    """Write the annotations of the ROI rows `reader` gives a batch at a time, comma-separated
    (`numbers`: theirs, in that order; `how`: the RLE format, the count of what cannot be
    written by reason, the progress bar or not). Returns how many were written."""
    rle_format, skipped, progress = how
    start = written = 0
    with tqdm(
        total=len(numbers), desc="coco annotations", disable=not progress, leave=False
    ) as bar:
        for batch in reader:
            rois = pa.Table.from_batches([batch])
            end = start + rois.num_rows
            rois = rois.append_column("number", pa.array(numbers[start:end], pa.int64()))
            texts = _batch_annotations(con, rois, categories, rle_format, skipped)
            written = write_joined(out, texts, written)
            start = end
            bar.update(rois.num_rows)
    return written


def _batch_annotations(
    con: Any,
    rois: pa.Table,
    categories: Mapping[str, Category],
    rle_format: str,
    skipped: dict[str, int],
) -> pa.ChunkedArray:
    """The annotations' text of one batch of ROI rows, in order; counts what has none.

    Boxes and polygons are written as the catalog's engine makes their text
    (workbench.ingest._coco_export_sql); masks and the rest row by row here."""
    at, lines = _sql_annotations(con, rois)
    by_sql = np.zeros(rois.num_rows, dtype=bool)
    by_sql[at] = True
    rest = np.flatnonzero(~by_sql)
    found: list[int] = []
    made: list[str] = []
    for p, row in zip(rest.tolist(), rois.take(pa.array(rest)).to_pylist(), strict=True):
        ids = row["number"], row["image_id"]
        annotation = _export_annotation(row, ids, categories, rle_format)
        if isinstance(annotation, str):
            skipped[annotation] += 1
        else:
            found.append(p)
            made.append(json.dumps(annotation))
    if not made:
        return lines
    # both in ascending order of position, never the same one: merged in order
    order = np.argsort(np.concatenate([at, np.array(found, np.int64)]), kind="stable")
    return pa.chunked_array([*lines.chunks, pa.array(made, pa.string())]).take(order)


def write_joined(out: IO[str], texts: pa.ChunkedArray, written: int, step: int = 100_000) -> int:
    """Write texts one per line, comma-separated (`written`: how many were before), joined by
    Arrow `step` at a time. Returns how many are written now."""
    for chunk in texts.chunks:
        for at in range(0, len(chunk), step):
            part = chunk.slice(at, step)
            lists = pa.ListArray.from_arrays(pa.array([0, len(part)], pa.int32()), part)
            joined = pc.binary_join(lists, ",\n")[0].as_py()
            out.write(("\n" if written == 0 else ",\n") + joined)
            written += len(part)
    return written


def _sql_annotations(con: Any, rois: pa.Table) -> tuple[np.ndarray, pa.ChunkedArray]:
    """The positions in `rois` of the rows SQL writes, ascending, and their annotations' text."""
    table = rois.append_column("p", pa.array(np.arange(rois.num_rows, dtype=np.int64)))
    with registered(con, "_wb_rois", table):
        rows = con.sql(ANNOTATIONS).to_arrow_table()
    rows = rows.filter(pc.invert(rows["by_python"]))
    at = rows["p"].to_numpy() if rows.num_rows else np.zeros(0, np.int64)
    if np.any(at[1:] <= at[:-1]):  # the engine kept the scan's order: sorted if not
        order = np.argsort(at, kind="stable")
        rows, at = rows.take(order), at[order]
    return at, rows["line"]


def _export_annotation_ids(rois: pa.Table) -> dict[tuple[str, str], int]:
    keys = list(zip(rois["frame_id"].to_pylist(), rois["id"].to_pylist(), strict=True))
    parsed = {key: int(key[1]) for key in keys if key[1].isdigit()}
    return unique_numbers(keys, parsed)


def numbered(texts: pa.Array) -> np.ndarray:
    """As `unique_numbers` on distinct keys: a text of ASCII digits is its number unless an
    earlier one had it; the others take the numbers after the largest, in order."""
    count = len(texts)
    digits = pc.fill_null(pc.match_substring_regex(texts, r"^[0-9]+$"), False)
    mask = digits.to_numpy(zero_copy_only=False)
    values = np.zeros(count, dtype=np.int64)
    values[mask] = pc.cast(texts.filter(digits), pa.int64()).to_numpy()
    parsed = np.flatnonzero(mask)
    kept = np.zeros(count, dtype=bool)  # the first row of each number keeps it
    kept[parsed[np.unique(values[parsed], return_index=True)[1]]] = True
    top = int(values[parsed].max()) if len(parsed) else 0
    values[~kept] = top + 1 + np.arange(count - int(kept.sum()))
    return values


def unique_numbers(keys: Sequence[Any], parsed: Mapping[Any, int]) -> dict[Any, int]:
    used: set[int] = set()
    next_free = max(parsed.values(), default=0) + 1
    numbers = {}
    for key in keys:
        value = parsed.get(key)
        if value is None or value in used:
            value, next_free = next_free, next_free + 1
        used.add(value)
        numbers[key] = value
    return numbers


def keypoint_categories(con: Any, rois: str, params: Sequence[Any]) -> dict[str, tuple[Any, Any]]:
    """label -> the point names and skeleton kept for it, for the labels of keypoints ROIs
    (`rois`: narrow.field_rois's read)."""
    query = f"SELECT DISTINCT label FROM ({rois}) r WHERE kind = 'keypoints' AND label IS NOT NULL"
    labels = [label for (label,) in con.execute(query, list(params)).fetchall()]
    if not labels:
        return {}
    found = keypoint_labels(con, labels)
    return {k: (list(v.names), [list(p) for p in v.skeleton]) for k, v in found.items()}


def export_categories(
    con: Any, rois: str, params: Any, keypoints: Mapping[str, tuple[Any, Any]] | None = None
) -> dict[str, Category]:
    """label -> category of the ROIs `rois` (narrow.field_rois's read), keeping the category
    ids stored on ROIs when they do not clash; `keypoints`: label -> the point names and
    skeleton of labels that have keypoints.

    Only the rows that can name a category are read (`_categories` on all rows gives the
    same): the first ROI of each label of an exported kind, and those whose attributes name
    keypoints."""
    kinds = ", ".join(f"'{kind}'" for kind in sorted(_EXPORTED_KINDS))
    query = f"""SELECT label, kind, attributes FROM ({rois}) r
        WHERE o IN (SELECT min(o) FROM ({rois}) f WHERE label IS NOT NULL AND kind IN ({kinds})
                GROUP BY label)
            OR contains(attributes, '{CATEGORY_KEYPOINTS}')
        ORDER BY o"""
    return _categories(con.sql(query, params=[*params, *params]).to_arrow_table(), keypoints)


def _categories(
    rois: pa.Table, keypoints: Mapping[str, tuple[Any, Any]] | None = None
) -> dict[str, Category]:
    """`export_categories` row by row."""
    wanted: dict[str, tuple[Any, str | None]] = {}
    points = dict(keypoints or {})  # and those older catalogs kept on ROIs (below)
    columns = (rois[c].to_pylist() for c in ("label", "kind", "attributes"))
    for label, kind, text in zip(*columns, strict=True):
        if label is not None and text and label not in points and CATEGORY_KEYPOINTS in text:
            found = json.loads(text)
            if CATEGORY_KEYPOINTS in found:
                points[label] = (found[CATEGORY_KEYPOINTS], found.get(CATEGORY_SKELETON))
        if label is None or label in wanted or kind not in _EXPORTED_KINDS:
            continue
        attributes = json.loads(text) if text else {}
        wanted[label] = (attributes.get("category_id"), attributes.get("supercategory"))
    taken: dict[int, str] = {}
    for label, (cat_id, _) in wanted.items():
        if isinstance(cat_id, int) and not isinstance(cat_id, bool) and cat_id not in taken:
            taken[cat_id] = label
    by_label = {label: cat_id for cat_id, label in taken.items()}
    next_free = max(taken, default=0) + 1
    categories = {}
    for label, (_, sup) in wanted.items():
        if label not in by_label:
            by_label[label], next_free = next_free, next_free + 1
        categories[label] = Category(by_label[label], label, sup, *points.get(label, (None, None)))
    return categories


def category_json(name: str, category: Category) -> dict[str, Any]:
    out: dict[str, Any] = {"id": category.id, "name": name}
    if category.supercategory is not None:
        out["supercategory"] = category.supercategory
    if category.keypoints is not None:
        out["keypoints"] = category.keypoints
        out["skeleton"] = category.skeleton or []
    return out


def _export_annotation(
    row: Mapping[str, Any],
    ids: tuple[int, int],
    categories: Mapping[str, Category],
    rle_format: str,
) -> dict[str, Any] | str:
    """The COCO annotation of one ROI row, or why it has none."""
    if row["label"] is None:
        return "ROIs without a label"
    attributes = json.loads(row["attributes"]) if row["attributes"] else {}
    kind, rings = row["kind"], row["geometry"] or []
    if kind == "box":
        segmentation: Any = []
    elif kind == "polygon":
        segmentation = [list(ring) for ring in rings]
    elif kind == "keypoints":
        segmentation = attributes.pop("segmentation", [])
        attributes["keypoints"] = keypoint_triplets(rings[0] if rings else [], row["visibility"])
        attributes.setdefault("num_keypoints", sum(1 for v in row["visibility"] if v))
    elif kind == "mask":
        mask = json.loads(row["mask"]) if row["mask"] else {}
        if not isinstance(mask.get("rle"), dict):
            return "mask ROIs stored as images rather than RLE"
        segmentation = rle.compress(mask["rle"])
        if rle_format == "uncompressed":
            segmentation["counts"] = rle.from_string(segmentation["counts"])
    else:
        return f"{kind} ROIs (COCO instances hold boxes, polygons and masks)"
    if row["x_min"] is None:
        return f"{kind} ROIs without a bounding box"
    x, y = row["x_min"], row["y_min"]
    bbox = [_clean(x), _clean(y), _clean(row["x_max"] - x), _clean(row["y_max"] - y)]
    annotation: dict[str, Any] = {
        "id": ids[0],
        "image_id": ids[1],
        "category_id": categories[row["label"]].id,
    }
    if segmentation != [] or kind in ("box", "keypoints"):
        annotation["segmentation"] = segmentation
    area = attributes.get("area")
    annotation["area"] = area if area is not None else _area(kind, rings, bbox, segmentation)
    annotation["bbox"] = bbox
    annotation["iscrowd"] = attributes.get("iscrowd", 0)
    if row["confidence"] is not None:
        annotation["score"] = row["confidence"]
    annotation.update((k, v) for k, v in attributes.items() if k not in _EXPORT_OWN)
    return annotation


def _area(kind: str, rings: Sequence[Sequence[float]], bbox: list[float], seg: Any) -> float:
    if kind == "polygon":
        return polygon_area(rings)
    if kind == "keypoints" and isinstance(seg, list) and seg:
        return polygon_area(seg)
    if kind == "mask":
        return float(rle.area(seg["counts"]))
    return bbox[2] * bbox[3]


def _clean(value: float) -> float:
    """Drop the float noise of x_max - x_min so re-importing gives the very same numbers."""
    return float(f"{value:.12g}")
