"""Counting stored URIs that lie outside every media root, set-based.

A million URIs checked one by one in Python would cost more than the import itself, so they
are grouped by folder in SQL and each folder is checked once; only the symlinks found in
folders under a root are followed file by file. The writer checks each batch's URIs; the
Parquet importer checks the URIs it stored, by query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.media.files import MAX_URI_LENGTH, MediaRootCheck
from workbench.store.arrow import registered

if TYPE_CHECKING:
    from workbench.ingest.writer import IngestReport

_URIS = "SELECT u FROM _wb_uris WHERE u IS NOT NULL AND u <> ''"
# A URI's folder part, by text. Whole URIs stand alone where the text after the last '/' is
# not simply a file name: `..`, or file URIs with percent-escapes, queries or fragments.
_ALONE = (
    "(ends_with(u, '/') OR ends_with(u, '/.') OR ends_with(u, '/..') OR u IN ('.', '..') "
    "OR (starts_with(lower(u), 'file:') "
    "AND (contains(u, '%') OR contains(u, '?') OR contains(u, '#'))))"
)
_NAME = "string_split(u, '/')[-1]"
_HEAD = f"CASE WHEN {_ALONE} THEN u ELSE left(u, length(u) - length({_NAME})) END"


def count_outside(con: Any, uris: pa.Array, check: MediaRootCheck, report: IngestReport) -> None:
    """Count in `report` the URIs (an Arrow string array) outside every media root."""
    uris = not_remote(uris)
    if len(uris) == 0:
        return
    with registered(con, "_wb_uris", pa.table({"u": uris})):
        count_outside_of(con, _URIS, check, report)


# What MediaRootCheck takes for a remote URI (never outside the media roots): a data: URI, or
# a `scheme://` URI other than file: (media.images.local_path) that may name a file at all
# (no NUL, not too long: such URIs count as outside).
_SCHEME = r"^[A-Za-z0-9+\-]*[A-Za-z0-9][A-Za-z0-9+\-]*://"


def not_remote(uris: pa.Array) -> pa.Array:
    """The URIs of `uris` that may name local files (not NULL, not empty, not remote), picked
    out by their text. Only these are grouped by folder in SQL (`count_outside_of`): for a batch
    of 100,000 s3:// URIs that took more CPU than the batch's INSERT, to find no file. (A URI
    kept here that is remote after all is found so there, as before.)"""
    uris = uris.filter(pc.not_equal(uris, ""))  # NULLs dropped too
    if len(uris) == 0:
        return uris
    # the byte length: a URI longer in bytes than in characters is left to the SQL check
    remote = pc.and_(
        pc.match_substring_regex(uris, _SCHEME),
        pc.less_equal(pc.binary_length(uris), MAX_URI_LENGTH),
    )
    data = uris.buffers()[2]
    text = data.to_pybytes() if data is not None else b""
    # each URI looked at only when some URI of the batch holds a NUL or a file: scheme
    if b"\x00" in text:
        remote = pc.and_(remote, pc.invert(pc.match_substring(uris, "\x00")))
    if b"file:" in text.lower():
        remote = pc.and_(remote, pc.invert(pc.starts_with(uris, "file:", ignore_case=True)))
    return uris.filter(pc.invert(pc.or_(remote, pc.starts_with(uris, "data:"))))


def count_outside_of(con: Any, uris: str, check: MediaRootCheck, report: IngestReport) -> None:
    """Count in `report` the URIs of the query `uris` (one non-empty column `u`) outside
    every media root."""
    groups = con.execute(
        f"SELECT {_ALONE} AS alone, {_HEAD} AS head, count(*), min(u) "
        f"FROM ({uris}) GROUP BY ALL ORDER BY head"
    ).fetchall()
    for alone, head, count, example in groups:
        folder = check.folder_of(example)
        if folder is None:
            continue  # remote URIs are not files of this machine
        if alone or not folder.inside:
            if alone and not check.is_outside(example):
                continue
            report.note_outside(example, count)
        elif folder.links:
            rows = con.execute(
                f"SELECT u, count(*) FROM ({uris}) WHERE NOT {_ALONE} AND {_HEAD} = ? "
                f"AND {_NAME} IN (SELECT unnest(?::VARCHAR[])) GROUP BY u ORDER BY u",
                [head, sorted(folder.links)],
            ).fetchall()
            for uri, n in rows:
                if check.is_outside(uri):
                    report.note_outside(uri, n)
