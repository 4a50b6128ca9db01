"""What the catalog tells an annotation backend about a run, as typed values.

Backends read the catalog only through here (and keep their own rows through
store/ledger.py): the frames of a run with their sources, the frames its inputs hold now,
and its label schema. Values go into SQL as parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class SourceRef:
    """One source (image or video) of a frame, as the catalog's `sources` row has it."""

    id: str
    uri: str | None
    width: int | None
    height: int | None
    content_type: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uri": self.uri,
            "width": self.width,
            "height": self.height,
            "content_type": self.content_type,
        }


@dataclass(frozen=True)
class FrameSources:
    """A frame's place in its sequence and its sources, by source id. A frame the catalog
    does not hold has no context, time, index or sources."""

    frame_id: str
    context_id: str | None
    timestamp: int | None
    frame_index: int | None
    sources: tuple[SourceRef, ...]


def frame_sources(
    con: duckdb.DuckDBPyConnection, frame_ids: Iterable[str]
) -> dict[str, FrameSources]:
    """Each of `frame_ids` with its context, timestamp, frame index and sources."""
    wanted = list(dict.fromkeys(frame_ids))
    found = con.execute(
        """SELECT w.frame_id, f.context_id, f.timestamp, f.frame_index,
                  list({'id': s.id, 'uri': s.uri, 'width': s.width, 'height': s.height,
                        'content_type': s.content_type} ORDER BY s.id)
                    FILTER (WHERE s.id IS NOT NULL)
           FROM (SELECT unnest(?::VARCHAR[]) AS frame_id) w
           LEFT JOIN frames f ON f.id = w.frame_id
           LEFT JOIN sources s ON s.frame_id = w.frame_id
           GROUP BY w.frame_id, f.context_id, f.timestamp, f.frame_index""",
        [wanted],
    ).fetchall()
    return {
        frame_id: FrameSources(
            frame_id,
            context_id,
            timestamp,
            frame_index,
            tuple(SourceRef(**source) for source in sources or ()),
        )
        for frame_id, context_id, timestamp, frame_index, sources in found
    }


def run_input_frames(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, str]:
    """frame id -> input uuid, for the frames the run's inputs hold now."""
    found = con.execute(
        """SELECT unnest(s.frame_ids), i.uuid FROM requests r
           JOIN inputs i ON i.request_id = r.id JOIN scenes s ON s.uuid = i.scene_uuid
           WHERE r.run_id = ?""",
        [run_id],
    ).fetchall()
    return {str(frame): str(input_uuid) for frame, input_uuid in found}


def run_label_schema(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any] | None:
    """The label schema a run was made with (as stored, a dict), or None for no such run."""
    found = con.execute(
        "SELECT label_schema FROM annotation_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    if not found:
        return None
    value = found[0][0]
    return json.loads(value) if isinstance(value, str) else value
