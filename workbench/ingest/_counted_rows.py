"""What the counting reads of the frames an import counted before, as they are stored: how
many sources and ROIs they hold and the files those name (`Again`, what a write that counts
them again takes back), by key on a local catalog or by id on a lake-backed one
(workbench/ingest/_counting.py holds the rule)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.report import IngestReport
from workbench.store import key_ranges
from workbench.store.arrow import registered


@dataclass(frozen=True, slots=True)
class Again:
    """Frames counted before by this import, their sources and ROIs as stored, and the files
    they name (`uris_of_rows`, each once per stored row that names it): what a write that
    counts them again takes back (the URIs among them outside the media roots, from the
    report's `outside_media_roots`)."""

    frames: int = 0
    sources: int = 0
    rois: int = 0
    uris: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    key: int = -1  # one frame's key, as `_counted_elsewhere` reads it (local catalogs)

    def __bool__(self) -> bool:
        return bool(self.frames or self.sources or self.rois)


NOTHING = Again()


def summed(frames: list[Again]) -> Again:
    """Several frames' figures as one."""
    if not frames:
        return NOTHING
    uris = pa.concat_arrays([f.uris for f in frames]) if len(frames) > 1 else frames[0].uris
    return Again(
        sum(f.frames for f in frames),
        sum(f.sources for f in frames),
        sum(f.rois for f in frames),
        uris,
    )


def take_back(report: IngestReport, again: Again) -> None:
    """Take the figures of frames counted before off `report` (their URIs outside the media
    roots are taken back by the writer, which holds the roots)."""
    report.frames -= again.frames
    report.sources -= again.sources
    report.rois -= again.rois


def uris_of_rows(sources: pa.Table, rois: pa.Table) -> pa.Array:
    """The files rows name, as the writer checks them against the media roots: the sources'
    URIs, previews and mask files, and the ROIs' mask files (`sources` with the columns
    uri, preview_uri and masks, `rois` with mask)."""
    found = [*sources["uri"].chunks, *sources["preview_uri"].chunks]
    masks: list[Any] = []
    for text in pc.drop_null(sources["masks"]).to_pylist():
        masks.extend(m.get("uri") for m in orjson.loads(text) if isinstance(m, dict))
    masks.extend(_mask_file(text) for text in pc.drop_null(rois["mask"]).to_pylist())
    strings = [m for m in masks if isinstance(m, str)]
    found.append(pa.array(strings, pa.string()))
    return pa.chunked_array(found, pa.string()).combine_chunks()


def mask_files(rois: pa.Table) -> pa.Array:
    """The files the masks of ROI rows (with the column mask, text or a dictionary of
    texts) name."""
    texts = pc.drop_null(rois["mask"]).to_pylist() if rois.num_rows else []
    return pa.array([u for t in texts if (u := _mask_file(t)) is not None], pa.string())


def _mask_file(text: str) -> str | None:
    """The file an ROI's mask (its stored JSON text) names, if any."""
    mask = orjson.loads(text)
    uri = mask.get("uri") if isinstance(mask, dict) else None
    return uri if isinstance(uri, str) else None


def swapped(
    uris: pa.Array, files: dict[Any, tuple[list[str], list[str]]], frames: list[Any]
) -> pa.Array:
    """`uris`, the files of the stored `frames` (keys or ids), with those `files` gives of
    each frame exchanged: (the files read as stored, each left out once as often as it is
    given; those an import counted in their place, added)."""
    out = Counter(uri for f in frames if f in files for uri in files[f][0])
    into = [uri for f in frames if f in files for uri in files[f][1]]
    if not out and not into:
        return uris
    kept = []
    for uri in uris.to_pylist():
        if out[uri] > 0:
            out[uri] -= 1
        else:
            kept.append(uri)
    return pa.array(kept + into, pa.string())


_SOURCE_FILES = "SELECT uri, preview_uri, masks FROM sources WHERE "
_ROI_FILES = "SELECT mask FROM rois WHERE mask IS NOT NULL AND "


def rows_of_keys(con: Any, keys: np.ndarray) -> Again:
    """The frames with `keys` (sorted, all stored): how many sources and ROIs they hold, read
    by key, and the files those name."""
    within = key_ranges.within("frame_key", keys)
    chosen = f"{within} AND frame_key IN (SELECT frame_key FROM _wb_counted)"
    with registered(con, "_wb_counted", pa.table({"frame_key": keys})):
        sources = con.sql(_SOURCE_FILES + chosen).to_arrow_table()
        rois = con.execute(f"SELECT count(*) FROM rois WHERE {chosen}").fetchall()[0][0]
        masks = con.sql(_ROI_FILES + chosen).to_arrow_table()
    return Again(len(keys), sources.num_rows, int(rois), uris_of_rows(sources, masks))


def rows_of_ids(con: Any, ids: list[str]) -> Again:
    """The stored frames among `ids`, how many sources and ROIs they hold, and the files
    those name."""
    chosen = "frame_id IN (SELECT id FROM _wb_counted)"
    with registered(con, "_wb_counted", pa.table({"id": pa.array(ids, pa.string())})):
        frames = con.execute(
            "SELECT count(*) FROM frames WHERE id IN (SELECT id FROM _wb_counted)"
        ).fetchall()[0][0]
        sources = con.sql(_SOURCE_FILES + chosen).to_arrow_table()
        rois = con.execute(f"SELECT count(*) FROM rois WHERE {chosen}").fetchall()[0][0]
        masks = con.sql(_ROI_FILES + chosen).to_arrow_table()
    return Again(int(frames), sources.num_rows, int(rois), uris_of_rows(sources, masks))


def ids_of_keys(con: Any, keys: np.ndarray) -> list[str]:
    """The ids of the stored frames with `keys`."""
    return list(ids_by_key(con, np.unique(keys)).values())


def field_rois(con: Any, field: str, column: str, frames: list[Any]) -> np.ndarray:
    """How many `field` ROIs each of `frames` (keys or ids, as `column` names them) holds."""
    rows = con.execute(
        f"SELECT n.i, count(r.{column}) FROM (SELECT unnest(?) AS f, generate_subscripts(?, 1)"
        f" AS i) n LEFT JOIN rois r ON r.{column} = n.f AND r.field = ? GROUP BY n.i ORDER BY n.i",
        [frames, frames, field],
    ).fetchall()
    return np.array([n for _, n in rows], dtype=np.int64)


def fields_delta(con: Any, column: str, fields: dict[Any, dict[str, int]]) -> dict[Any, int]:
    """For each frame of `fields` (keys or ids, as `column` names them), the ROIs its import
    counted in those fields less those stored there now."""
    frames = [f for f, counts in fields.items() for _ in counts]
    kind = pa.int64() if column == "frame_key" else pa.string()
    table = pa.table(
        {
            "f": pa.array(frames, kind),
            "field": pa.array([n for counts in fields.values() for n in counts], pa.string()),
            "n": pa.array([n for counts in fields.values() for n in counts.values()], pa.int64()),
        }
    )
    with registered(con, "_wb_fields", table):
        rows = con.execute(
            f"SELECT e.f, e.n - count(r.{column}) FROM _wb_fields e LEFT JOIN rois r"
            f" ON r.{column} = e.f AND r.field = e.field GROUP BY e.f, e.field, e.n"
        ).fetchall()
    delta: dict[Any, int] = {}
    for frame, n in rows:
        delta[frame] = delta.get(frame, 0) + int(n)
    return delta


def ids_by_key(con: Any, keys: np.ndarray) -> dict[int, str]:
    """The ids of the stored frames with `keys` (sorted, distinct)."""
    within = key_ranges.within("frame_key", keys)
    with registered(con, "_wb_gone", pa.table({"frame_key": keys})):
        found = con.execute(
            f"SELECT frame_key, id FROM frames WHERE {within}"
            " AND frame_key IN (SELECT frame_key FROM _wb_gone)"
        ).fetchall()
    return {int(key): i for key, i in found}


def keys_of_ids(con: Any, ids: list[str]) -> np.ndarray:
    """The keys of the stored frames among `ids`, sorted."""
    keys = con.execute(
        "SELECT frame_key FROM frames WHERE id IN (SELECT unnest(?::VARCHAR[]))"
        " AND frame_key IS NOT NULL ORDER BY frame_key",
        [ids],
    ).fetchnumpy()["frame_key"]
    return np.asarray(keys, dtype=np.int64)


def field_files(
    con: Any, column: str, frames: list[Any], fields: list[str]
) -> dict[Any, dict[str, list[str]]]:
    """The files the masks of the ROIs in `fields` of each of `frames` (keys or ids, as
    `column` names them) name, of those that name any."""
    kind = pa.int64() if column == "frame_key" else pa.string()
    with registered(con, "_wb_fields", pa.table({"f": pa.array(frames, kind)})):
        found = con.execute(
            f"SELECT {column}, field, mask FROM rois WHERE mask IS NOT NULL"
            f" AND field IN (SELECT unnest(?::VARCHAR[])) AND {column} IN (SELECT f FROM _wb_fields)",
            [fields],
        ).fetchall()
    files: dict[Any, dict[str, list[str]]] = {}
    for frame, name, text in found:
        uri = _mask_file(text)
        if uri is not None:
            files.setdefault(frame, {}).setdefault(name, []).append(uri)
    return files


def own_files(
    con: Any, column: str, fields: dict[Any, dict[str, int]], noted: dict[Any, dict[str, list[str]]]
) -> dict[Any, tuple[list[str], list[str]]]:
    """For each frame of `fields` (keys or ids, as `column` names them: frames an import
    counted whole, whose fields another import's label write or a merge changed since), the
    mask files stored in those fields (not that import's) and those it stored there, as
    `noted` holds them (which the catalog may no longer hold): `swapped`'s `files`."""
    names = sorted({name for counts in fields.values() for name in counts})
    stored = field_files(con, column, list(fields), names)
    found = {}
    for frame, counts in fields.items():
        held, own = stored.get(frame, {}), noted.get(frame, {})
        out = [uri for name in counts for uri in held.get(name, [])]
        found[frame] = (out, [uri for name in counts for uri in own.get(name, [])])
    return found


def fields_of(
    con: Any, column: str, frames: list[Any], fields: list[str]
) -> dict[Any, dict[str, int]]:
    """How many ROIs each field of each of `frames` (keys or ids, as `column` names them)
    holds: every field it holds, and each of `fields` (0 where it holds none)."""
    kind = pa.int64() if column == "frame_key" else pa.string()
    with registered(con, "_wb_fields", pa.table({"f": pa.array(frames, kind)})):
        found = con.execute(
            f"SELECT {column}, field, count(*) FROM rois"
            f" WHERE {column} IN (SELECT f FROM _wb_fields) GROUP BY ALL"
        ).fetchall()
    held: dict[Any, dict[str, int]] = {f: dict.fromkeys(fields, 0) for f in frames}
    for frame, name, n in found:
        held[frame][name] = int(n)
    return held
