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
from workbench.ingest._coco_export_sql import ID_PLACEHOLDER
from workbench.model import rle
from workbench.model.geometry import polygon_area
from workbench.model.keypoints import keypoint_triplets
from workbench.store.keypoints import keypoint_labels

_EXPORTED_KINDS = frozenset({"box", "polygon", "mask", "keypoints"})


# Attributes the exporter writes in their own places rather than as extra annotation keys.
_EXPORT_OWN = frozenset(
    {"category_id", "supercategory", "area", "iscrowd", CATEGORY_KEYPOINTS, CATEGORY_SKELETON}
)


def ids_their_numbers(con: Any, rois: str, params: Sequence[Any]) -> int | None:
    """How many ROIs `rois` (narrow.field_rois's read) holds when each id is ASCII digits
    (18 at most) and no two ids name the same number: then `_export_annotation_ids` gives
    each ROI its id's number, which the engine writes itself (the ids are read once, in no
    order, and not held); else None."""
    query = f"""SELECT count(*), coalesce(bool_and(regexp_full_match(id, '[0-9]{{1,18}}')), true),
            count(DISTINCT TRY_CAST(id AS BIGINT))
        FROM ({rois}) r"""
    ((count, digits, distinct),) = con.execute(query, list(params)).fetchall()
    return int(count) if digits and distinct == count else None


def roi_numbers(con: Any, rois: str, params: Sequence[Any]) -> np.ndarray:
    """The numbers `_export_annotation_ids` gives the ROIs `rois` (narrow.field_rois's read),
    in the view's order: computed on their ids' column (`numbered`) when every id is ASCII
    and shorter than 19 digits, and no frame and id come twice; else by that loop itself.

    The numbers need every id of the view, but only their ids are held meanwhile, read once:
    ids that all kept their own numbers are all different; else the engine tells whether a
    frame and id come twice."""
    ids = con.sql(f"SELECT id FROM ({rois}) r ORDER BY o", params=params).to_arrow_table()
    column = ids["id"].combine_chunks()
    plain = pc.all(pc.string_is_ascii(column)).as_py() is not False and not (
        pc.any(pc.match_substring_regex(column, "[0-9]{19}")).as_py()
    )
    if plain:
        numbers, own = _numbers(column)
        if own:
            return numbers
        once = f"""SELECT (SELECT count(*) FROM (SELECT DISTINCT frame_id, id FROM ({rois}) r))
            = (SELECT count(*) FROM ({rois}) r)"""
        ((found,),) = con.execute(once, [*params, *params]).fetchall()
        if found:
            return numbers
    order = f"SELECT frame_id, id FROM ({rois}) r ORDER BY o"
    rows = con.sql(order, params=params).to_arrow_table()
    by_key = _export_annotation_ids(rows)
    keys = zip(rows["frame_id"].to_pylist(), rows["id"].to_pylist(), strict=True)
    return np.array([by_key[k] for k in keys], dtype=np.int64)


def write_annotations(
    out: IO[str],
    reader: pa.RecordBatchReader,
    numbers: np.ndarray | int,
    categories: Mapping[str, Category],
    how: tuple[str, dict[str, int], bool],
    kept: dict[Any, dict[str, Any]],
) -> int:
    """Write the annotations of the rows `reader` gives a batch at a time
    (workbench.ingest._coco_export_sql.annotation_lines), comma-separated (`numbers`: theirs, in
    that order, or how many rows come when each id is its number; `how`: the RLE format, the
    count of what cannot be written by reason, the progress bar or not). Returns how many were
    written; the kwcoco track records they hold (left off them) are added to `kept` by id,
    the first of each."""
    rle_format, skipped, progress = how
    start = written = 0
    total = numbers if isinstance(numbers, int) else len(numbers)
    with tqdm(total=total, desc="coco annotations", disable=not progress, leave=False) as bar:
        for batch in reader:
            rows = pa.Table.from_batches([batch])
            end = start + rows.num_rows
            mine = None if isinstance(numbers, int) else numbers[start:end]
            texts = _batch_annotations(rows, mine, categories, rle_format, skipped, kept)
            written = write_joined(out, texts, written)
            start = end
            bar.update(rows.num_rows)
    return written


def _batch_annotations(
    rows: pa.Table,
    numbers: np.ndarray | None,
    categories: Mapping[str, Category],
    rle_format: str,
    skipped: dict[str, int],
    kept: dict[Any, dict[str, Any]],
) -> pa.ChunkedArray:
    """The annotations' text of one batch of rows, in order; counts what has none.

    Boxes and polygons come with the text the catalog's engine made, their number put in
    its place here (`numbers`; None: the text holds it, the ROI's id); masks and the rest are
    made row by row here (with the kwcoco track records they hold, added to `kept`)."""
    lines = rows["line"].combine_chunks()
    by_sql = pc.is_valid(lines).to_numpy(zero_copy_only=False)
    at = np.flatnonzero(by_sql)
    if len(at) == len(lines):
        return pa.chunked_array([_numbered(lines, numbers)], pa.string())
    mine = _numbered(lines.take(pa.array(at)), None if numbers is None else numbers[at])
    rest = np.flatnonzero(~by_sql)
    found: list[int] = []
    made: list[str] = []
    held = rows.take(pa.array(rest)).to_pylist()
    for p, row in zip(rest.tolist(), held, strict=True):
        ids = int(row["id"] if numbers is None else numbers[p]), row["image_id"]
        annotation = _export_annotation(row, ids, categories, rle_format, kept)
        if isinstance(annotation, str):
            skipped[annotation] += 1
        else:
            found.append(p)
            made.append(json.dumps(annotation))
    if not made:
        return pa.chunked_array([mine], pa.string())
    # both in ascending order of position, never the same one: merged in order
    order = np.argsort(np.concatenate([at, np.array(found, np.int64)]), kind="stable")
    return pa.chunked_array([mine, pa.array(made, pa.string())]).take(order)


def _numbered(lines: pa.Array, numbers: np.ndarray | None) -> pa.Array:
    """The engine's annotation texts with their numbers in place of the 0 they hold (None:
    they hold their numbers)."""
    if numbers is None:
        return lines
    ids = pa.array(numbers, pa.int64()).cast(pa.string())
    tails = pc.utf8_slice_codeunits(lines, len(ID_PLACEHOLDER))
    return pc.binary_join_element_wise('{"id":', ids, tails, "")


def write_joined(out: IO[str], texts: pa.ChunkedArray, written: int, step: int = 100_000) -> int:
    """Write texts one per line, comma-separated (`written`: how many were before), joined by
    Arrow `step` at a time and written as the bytes Arrow holds (through the text file's
    buffer when it has one: no str made of them). Returns how many are written now."""
    raw = getattr(out, "buffer", None)
    for chunk in texts.chunks:
        for at in range(0, len(chunk), step):
            part = chunk.slice(at, step)
            lists = pa.ListArray.from_arrays(pa.array([0, len(part)], pa.int32()), part)
            joined = pc.binary_join(lists, ",\n")[0]
            head = "\n" if written == 0 else ",\n"
            if raw is None:
                out.write(head + joined.as_py())
            else:
                out.write(head)
                out.flush()
                raw.write(joined.as_buffer())
            written += len(part)
    return written


def _export_annotation_ids(rois: pa.Table) -> dict[tuple[str, str], int]:
    keys = list(zip(rois["frame_id"].to_pylist(), rois["id"].to_pylist(), strict=True))
    parsed = {key: int(key[1]) for key in keys if key[1].isdigit() and int(key[1]) < 2**63}
    return unique_numbers(keys, parsed)


def numbered(texts: pa.Array) -> np.ndarray:
    """As `unique_numbers` on distinct keys: a text of ASCII digits is its number unless an
    earlier one had it; the others take the numbers after the largest, in order."""
    return _numbers(texts)[0]


def _numbers(texts: pa.Array) -> tuple[np.ndarray, bool]:
    """`numbered`'s numbers, and whether every text is ASCII digits that kept its number
    (then no two texts are alike)."""
    count = len(texts)
    digits = pc.fill_null(pc.match_substring_regex(texts, r"^[0-9]+$"), False)
    mask = digits.to_numpy(zero_copy_only=False)
    values = np.zeros(count, dtype=np.int64)
    values[mask] = pc.cast(texts.filter(digits), pa.int64()).to_numpy()
    parsed = np.flatnonzero(mask)
    kept = np.zeros(count, dtype=bool)  # the first row of each number keeps it
    kept[parsed[np.unique(values[parsed], return_index=True)[1]]] = True
    top = int(values[parsed].max()) if len(parsed) else 0
    held = int(kept.sum())
    values[~kept] = top + 1 + np.arange(count - held)
    return values, held == count


def unique_numbers(keys: Sequence[Any], parsed: Mapping[Any, int]) -> dict[Any, int]:
    used: set[int] = set()
    next_free = max(parsed.values(), default=0) + 1
    # New numbers follow the largest, unless that is the largest a signed 64-bit integer holds:
    # then they are the free ones from 1.
    taken = set(parsed.values()) if next_free >= 2**63 else set()
    next_free = 1 if taken else next_free
    numbers = {}
    for key in keys:
        value = parsed.get(key)
        if value is None or value in used:
            while next_free in taken:
                next_free += 1
            value, next_free = next_free, next_free + 1
        used.add(value)
        numbers[key] = value
    return numbers


def export_categories(
    con: Any, rois: str, params: Any, keypoints: Mapping[str, tuple[Any, Any]] | None = None
) -> dict[str, Category]:
    """label -> category of the ROIs `rois` (narrow.field_rois's read), keeping the category
    ids stored on ROIs when they do not clash; `keypoints`: label -> the point names and
    skeleton of labels that have keypoints."""
    return _categories(_chosen_rows(con, rois, params), keypoints)


def categories_with_points(con: Any, rois: str, params: Any) -> dict[str, Category]:
    """`export_categories` with the point names and skeleton kept for the labels of keypoints
    ROIs, from one read of `rois`."""
    rows = _chosen_rows(con, rois, params)
    found = pc.unique(rows.filter(rows["keypoints"])["label"].drop_null()).to_pylist()
    kept = keypoint_labels(con, found) if found else {}
    points = {k: (list(v.names), [list(p) for p in v.skeleton]) for k, v in kept.items()}
    return _categories(rows, points)


def _chosen_rows(con: Any, rois: str, params: Any) -> pa.Table:
    """The rows that can name a category, in the view's order (`_categories` on every row
    gives the same): the first ROI of each label of an exported kind and every ROI whose
    attributes name keypoints (more rows of a label, which `_categories` passes over, may
    come too); `keypoints`: whether the label has keypoints ROIs, on its rows."""
    kinds = ", ".join(f"'{kind}'" for kind in sorted(_EXPORTED_KINDS))
    named = f"contains(attributes, '{CATEGORY_KEYPOINTS}')"
    query = f"""SELECT label, kind, attributes, keypoints FROM (
            SELECT label, min(o) AS o, arg_min(kind, o) AS kind,
                arg_min(attributes, o) AS attributes,
                bool_or(kind = 'keypoints' AND label IS NOT NULL) AS keypoints
            FROM ({rois}) r WHERE (label IS NOT NULL AND kind IN ({kinds})) OR {named}
            GROUP BY label, CASE WHEN {named} THEN o END)
        ORDER BY o"""
    return con.sql(query, params=params).to_arrow_table()


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
    kept = {  # ids a signed 64-bit integer holds (the export's columns are such)
        label: cat_id
        for label, (cat_id, _) in wanted.items()
        if isinstance(cat_id, int) and not isinstance(cat_id, bool) and -(2**63) <= cat_id < 2**63
    }
    by_label = unique_numbers(list(wanted), kept)
    return {
        label: Category(by_label[label], label, sup, *points.get(label, (None, None)))
        for label, (_, sup) in wanted.items()
    }


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
    kept: dict[Any, dict[str, Any]] | None = None,
) -> dict[str, Any] | str:
    """The COCO annotation of one ROI row, or why it has none (its kwcoco track's record,
    written in `tracks`, added to `kept`)."""
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
    if _kept_track(attributes):  # written in `tracks` (workbench.ingest._coco_export_tracks)
        record = attributes.pop("track")
        if kept is not None:
            kept.setdefault(record["id"], record)
    annotation.update((k, v) for k, v in attributes.items() if k not in _EXPORT_OWN)
    return annotation


def _kept_track(attributes: Mapping[str, Any]) -> bool:
    """Whether the attributes hold a kwcoco track's record, naming their own `track_id`."""
    track = attributes.get("track")
    if not isinstance(track, dict) or "id" not in track:
        return False
    mine = attributes.get("track_id")
    return type(track["id"]) is type(mine) and track["id"] == mine


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
