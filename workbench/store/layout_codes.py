"""The ROI codes of the layout: `frame_codes`, `code_counts` and how a code is made.

A ROI's code is one integer holding its label key and its confidence bin (`roi_code`):
`frame_codes(frame_key, codes)` holds a row per frame with its ROIs' codes, and
`code_counts(code, rois)` their sum over the catalog, so the label counts and confidence
histogram of a view are one read of integers (docs/scale.md). This module makes and counts
the codes of the frames a condition selects; which frames need them, and when, is the
layout's upkeep (store/layout.py), a whole build's (store/layout_build.py) or a lake's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from workbench.store.scratch import dropped_after

# A ROI's code in frame_codes: label_key * CODE_LABEL + its confidence bin among
# CONFIDENCE_BINS bins of [0, 1] (a confidence above 1 in the last), or + CODE_NONE when it
# has none (NULL, NaN, below 0). CODE_LABEL is a multiple of CONFIDENCE_BINS, so one integer
# division by CONFIDENCE_BINS / bins gives a ROI's label and bin among any divisor `bins`.
CONFIDENCE_BINS = 1000
CODE_LABEL = 2 * CONFIDENCE_BINS
CODE_NONE = CONFIDENCE_BINS
# Codes are stored as INTEGERs (schema version 11; BIGINTs before): unnesting the codes of a
# filtered view's frames, half its facets' work, took a third less CPU at 10M frames over
# the narrower type. A catalog with more label keys than this cannot code its ROIs.
MAX_CODED_LABEL = (2**31 - 1 - CODE_LABEL) // CODE_LABEL
# The state row saying frame_codes holds one row per frame, in the stored order of frames
# (both in key order, the same frames): a filtered view's ROI codes are then read beside the
# frames with a POSITIONAL JOIN, its WHERE evaluated in the same scan (query/facets.py). Made
# by a whole build of the codes (the migration, `Catalog.optimize()`), kept by writes that
# append frames, dropped by any that codes stored frames again (their rows move to the end).
CODES_ALIGNED = "_codes_aligned"


def confidence_bin(confidence: str) -> str:
    """SQL: the confidence's bin among CONFIDENCE_BINS (NULL when it has none)."""
    return (
        f"CASE WHEN {confidence} >= 0 AND NOT isnan({confidence})"
        f" THEN least(floor({confidence} * {CONFIDENCE_BINS}), {CONFIDENCE_BINS - 1})::BIGINT END"
    )


def roi_code(alias: str) -> str:
    """SQL: the code of a ROI (alias `alias`) in frame_codes, an INTEGER (label keys up to
    MAX_CODED_LABEL)."""
    return (
        f"({alias}.label_key::BIGINT * {CODE_LABEL}"
        f" + coalesce({confidence_bin(alias + '.confidence')}, {CODE_NONE}))::INTEGER"
    )


def code(
    con: duckdb.DuckDBPyConnection,
    which: str,
    params: Sequence[Any],
    into: str = "frame_codes",
    rois: str = "rois",
    *,
    every_frame: bool = True,
) -> None:
    """Append the ROI codes of the frames `which` selects (a condition on `frame_key`, applied
    to `frames` and to `rois`), sorted by frame: one row per stored frame, an empty list for a
    frame without ROIs (`every_frame`; otherwise frames with ROIs only, as a lake keeps them).

    A row for every frame, appended in key order as frames are, keeps frame_codes row for row
    beside frames (CODES_ALIGNED)."""
    join = "LEFT JOIN" if every_frame else "JOIN"
    con.execute(
        f"INSERT INTO {into} SELECT f.frame_key, coalesce(list({roi_code('r')})"
        " FILTER (WHERE r.frame_key IS NOT NULL), []::INTEGER[])"
        f" FROM (SELECT frame_key FROM frames WHERE {which}) f {join}"
        f" (SELECT frame_key, label_key, confidence FROM {rois} WHERE {which}) r"
        " ON r.frame_key = f.frame_key GROUP BY f.frame_key ORDER BY f.frame_key",
        [*params, *params],
    )


def codes_aligned(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether frame_codes holds one row per frame, in the stored order of frames."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [CODES_ALIGNED],
    ).fetchall()
    return bool(rows[0][0])


def mark_aligned(con: duckdb.DuckDBPyConnection) -> None:
    """Say that frame_codes was just written row for row beside frames (a whole build)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {CODES_ALIGNED} (built TIMESTAMP)")


def tally(
    con: duckdb.DuckDBPyConnection,
    which: str,
    params: Sequence[Any],
    sign: int,
    codes: str = "frame_codes",
    into: str = "code_counts",
) -> None:
    """Add (sign 1) or take away (-1) the codes of the frame_codes rows `which` selects to or
    from the catalog's code counts."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _wb_tally AS SELECT x AS code, count(*) AS rois"
        f" FROM (SELECT unnest(codes) AS x FROM {codes} WHERE {which}) GROUP BY x",
        list(params),
    )
    with dropped_after(con, "_wb_tally"):
        add_counts(con, "_wb_tally", sign, into)


def add_counts(con: duckdb.DuckDBPyConnection, counts: str, sign: int, into: str) -> None:
    """Add (sign 1) or take away (-1) `counts` (a table of code, rois) to or from `into`."""
    con.execute(
        f"UPDATE {into} AS c SET rois = c.rois + {int(sign)} * t.rois FROM {counts} t"
        " WHERE c.code = t.code"
    )
    con.execute(
        f"INSERT INTO {into} SELECT code, {int(sign)} * rois FROM {counts}"
        f" WHERE code NOT IN (SELECT code FROM {into})"
    )
    con.execute(f"DELETE FROM {into} WHERE rois = 0")
