"""The names and skeleton of each label's keypoints, kept once per label (`keypoint_labels`,
docs/catalog.md): importers that read them save them, exporters and the viewer read them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from workbench.model.keypoints import KeypointLabel

__all__ = ["keypoint_labels", "save_keypoint_labels"]


def save_keypoint_labels(con: Any, labels: Iterable[KeypointLabel]) -> None:
    """Store (or replace) the keypoints of each label, in the caller's transaction."""
    rows = [(k.label, list(k.names), [list(p) for p in k.skeleton]) for k in labels]
    if rows:
        con.executemany(
            "INSERT OR REPLACE INTO keypoint_labels (label, names, skeleton, updated) "
            "VALUES (?, ?, ?, current_timestamp)",
            rows,
        )


def keypoint_labels(con: Any, labels: Sequence[str] | None = None) -> dict[str, KeypointLabel]:
    """label -> its keypoints, for `labels` (default: every label that has some)."""
    query = "SELECT label, names, skeleton FROM keypoint_labels"
    params: list[Any] = []
    if labels is not None:
        query += " WHERE label IN (SELECT unnest(?::VARCHAR[]))"
        params.append(list(labels))
    return {
        label: KeypointLabel(label, tuple(names), tuple((p[0], p[1]) for p in skeleton or ()))
        for label, names, skeleton in con.execute(query + " ORDER BY label", params).fetchall()
    }
