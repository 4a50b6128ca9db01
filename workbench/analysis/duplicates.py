"""find_duplicates: exact copies, near copies by perceptual hash, and by embedding distance.

Three kinds, each a list of groups:

- `exact`: source pictures whose files have the same content hash (byte-identical copies);
- `perceptual`: pictures whose 64-bit perceptual hashes differ in at most `hash_distance`
  bits (re-encoded, resized or slightly edited copies);
- `embedding`: frames (or ROIs) whose vectors of an embedding key are within `threshold`
  cosine distance.

A group has a first member, the one to keep (the smallest frame id, then source or ROI id),
and its copies: near copies join the group of the first member they are close to (copies of
copies are not chained into one group). Each search replaces the `duplicate_groups` rows of
its kind, which views read: `match_duplicates(which="extra")` is every copy but one per group,
ready to tag or invalidate. See docs/embeddings.md#duplicates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from workbench.analysis._store import audit, check_writable, registered
from workbench.analysis.embeddings.store import now
from workbench.analysis.media_hashes import compute_hashes
from workbench.analysis.similarity.matrix import load
from workbench.analysis.similarity.neighbours import near_pairs
from workbench.errors import AnalysisError
from workbench.query._sql import Compiled

if TYPE_CHECKING:
    from workbench.query.view import View

KINDS: tuple[str, ...] = ("exact", "perceptual", "embedding")
MAX_HASH_DISTANCE = 16
_BLOCK_BITS = {4: 16, 8: 8, 16: 4}  # blocks of a 64-bit hash -> bits per block


@dataclass(frozen=True)
class DuplicateGroup:
    """Members of one group: the first is the one to keep; distances are to it."""

    kind: str
    group_id: int
    frame_ids: tuple[str, ...]
    source_ids: tuple[str | None, ...]
    roi_ids: tuple[str | None, ...]
    distances: tuple[float, ...]

    @property
    def kept(self) -> str:
        return self.frame_ids[0]

    @property
    def copies(self) -> tuple[str, ...]:
        return self.frame_ids[1:]


@dataclass(frozen=True)
class DuplicateResults:
    groups: tuple[DuplicateGroup, ...]
    kinds: tuple[str, ...]
    key: str | None
    hash_errors: tuple[str, ...] = ()
    seconds: float = 0.0

    def of(self, kind: str) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.kind == kind]

    def extra_frame_ids(self, kind: str | None = None) -> list[str]:
        """Frames that are a copy (not the first) in some group (of `kind`), sorted."""
        return sorted({f for g in self.groups if kind in (None, g.kind) for f in g.copies})

    def to_arrow(self) -> pa.Table:
        """One row per member, as the duplicate_groups table has them."""
        return _rows(self.groups, self.key)

    def __str__(self) -> str:
        counts = ", ".join(
            f"{kind}: {len(self.of(kind))} groups, {sum(len(g.copies) for g in self.of(kind))}"
            " copies"
            for kind in self.kinds
        )
        return f"duplicates ({counts}) in {self.seconds:.1f} s"


@dataclass
class _Rows:
    """The pictures (or vectors) compared, in the order groups are led: smallest id first."""

    frame_ids: list[str]
    source_ids: list[str | None]
    roi_ids: list[str | None]
    context_ids: list[str] = field(default_factory=list)


def find_duplicates(
    view: View,
    *,
    kinds: tuple[str, ...] | list[str] | str | None = None,
    threshold: float = 0.02,
    hash_distance: int = 4,
    key: str | None = None,
    scope: str = "all",
    refresh: bool = False,
    progress: bool = True,
) -> DuplicateResults:
    """Find duplicate groups among the view's frames and store them (see the module doc).

    `kinds` defaults to exact and perceptual, plus embedding when the catalog has embeddings.
    `threshold` is the cosine distance of the embedding kind; `hash_distance` the bits
    perceptual hashes may differ by. scope="across_contexts" ignores pairs within one
    context (consecutive video frames are near copies by nature). Hashes missing from
    `media_hashes` are computed first; refresh=True also hashes again the files that changed
    since (their size or modification time differs).
    """
    started = time.perf_counter()
    check_writable(view.catalog, "duplicate groups")
    chosen = _kinds(view, kinds)
    if isinstance(hash_distance, bool) or not isinstance(hash_distance, int):
        raise AnalysisError(f"hash_distance must be an integer, got {hash_distance!r}")
    if not 0 <= hash_distance <= MAX_HASH_DISTANCE:
        raise AnalysisError(f"hash_distance must be from 0 to {MAX_HASH_DISTANCE}")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold < 1
    ):
        raise AnalysisError(f"threshold is a cosine distance from 0 to 1, got {threshold!r}")
    if scope not in ("all", "across_contexts"):
        raise AnalysisError(f"scope must be 'all' or 'across_contexts', got {scope!r}")
    errors: tuple[str, ...] = ()
    groups: list[DuplicateGroup] = []
    if "exact" in chosen or "perceptual" in chosen:
        report = compute_hashes(view, refresh=refresh, progress=progress)
        errors = tuple(report.errors)
        rows, contents, phashes = _hash_rows(view)
        if "exact" in chosen:
            groups += _exact_groups(rows, contents, scope)
        if "perceptual" in chosen:
            pairs = _hash_pairs(phashes, hash_distance, rows, scope)
            groups += _leader_groups("perceptual", rows, *pairs)
    used_key = None
    if "embedding" in chosen:
        matrix = load(view.catalog, key)
        used_key = matrix.info.key
        rows, positions = _embedding_rows(view, matrix)
        a, b, d = near_pairs(matrix.vectors, float(threshold), positions)
        where = np.full(len(matrix), -1, dtype=np.int64)
        where[positions] = np.arange(len(positions))
        a, b = np.minimum(where[a], where[b]), np.maximum(where[a], where[b])
        a, b, d = _scoped(a, b, d, rows, scope)
        groups += _leader_groups("embedding", rows, a, b, d)
    results = DuplicateResults(
        tuple(groups), chosen, used_key, errors, round(time.perf_counter() - started, 3)
    )
    _save(view, results)
    return results


def _kinds(view: View, kinds: Any) -> tuple[str, ...]:
    if kinds is None:
        has = view.catalog.cursor().execute("SELECT count(*) FROM embeddings").fetchall()[0][0]
        return KINDS if has else KINDS[:2]
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in KINDS]
    if not chosen or unknown:
        raise AnalysisError(f"kinds must be among {', '.join(KINDS)}, got {list(chosen)!r}")
    return tuple(k for k in KINDS if k in chosen)


def _hash_rows(view: View) -> tuple[_Rows, list[str | None], np.ndarray]:
    frames = view.compile()
    query = Compiled.join(
        [
            "SELECT h.frame_id, h.source_id, f.context_id, h.content_hash, h.phash"
            " FROM media_hashes h JOIN (",
            frames,
            ") v ON v.id = h.frame_id JOIN frames f ON f.id = h.frame_id"
            " WHERE h.error IS NULL ORDER BY h.frame_id, h.source_id",
        ],
        "",
    )
    table = view.run(query)
    rows = _Rows(
        table.column(0).to_pylist(),
        table.column(1).to_pylist(),
        [None] * table.num_rows,
        table.column(2).to_pylist(),
    )
    phashes = np.asarray(table.column(4).to_numpy(zero_copy_only=False), dtype=np.uint64)
    return rows, table.column(3).to_pylist(), phashes


def _exact_groups(rows: _Rows, contents: list[str | None], scope: str) -> list[DuplicateGroup]:
    by_hash: dict[str, list[int]] = {}
    for row, content in enumerate(contents):
        if content is not None:
            by_hash.setdefault(content, []).append(row)
    groups: list[DuplicateGroup] = []
    for members in by_hash.values():
        if scope == "across_contexts":
            first = rows.context_ids[members[0]]
            members = [members[0]] + [m for m in members[1:] if rows.context_ids[m] != first]
        if len(members) > 1:
            groups.append(_group("exact", len(groups), rows, members, [0.0] * len(members)))
    groups.sort(key=lambda g: (g.frame_ids[0], g.source_ids[0] or ""))
    return [_renumbered(g, i) for i, g in enumerate(groups)]


def _hash_pairs(
    phashes: np.ndarray, distance: int, rows: _Rows, scope: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of rows whose hashes differ in at most `distance` bits: two hashes that close
    agree entirely on at least one of distance + 1 blocks (pigeonhole), so only rows sharing a
    block value are compared."""
    blocks = next(b for b in sorted(_BLOCK_BITS) if b > distance)
    bits = _BLOCK_BITS[blocks]
    found_a, found_b = [], []
    for block in range(blocks):
        values = (phashes >> np.uint64(block * bits)) & np.uint64((1 << bits) - 1)
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        for start, end in zip(starts, ends, strict=True):
            if end - start > 1:
                members = order[start:end]
                i, j = np.triu_indices(len(members), 1)
                found_a.append(members[i])
                found_b.append(members[j])
    if not found_a:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    a, b = np.concatenate(found_a), np.concatenate(found_b)
    low, high = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([low, high], axis=1), axis=0)
    low, high = pairs[:, 0], pairs[:, 1]
    bits_apart = np.bitwise_count(phashes[low] ^ phashes[high]).astype(np.int64)
    keep = bits_apart <= distance
    return _scoped(low[keep], high[keep], bits_apart[keep].astype(np.float64), rows, scope)


def _scoped(
    a: np.ndarray, b: np.ndarray, d: np.ndarray, rows: _Rows, scope: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if scope != "across_contexts" or not len(a):
        return a, b, d
    contexts = np.asarray(rows.context_ids, dtype=object)
    keep = contexts[a] != contexts[b]
    return a[keep], b[keep], d[keep]


def _embedding_rows(view: View, matrix: Any) -> tuple[_Rows, np.ndarray]:
    """The key's rows of the view's frames, ordered by frame id (then ROI id)."""
    frames = view.run(
        Compiled.join(
            [
                "SELECT v.id, f.context_id FROM (",
                view.compile(),
                ") v JOIN frames f ON f.id = v.id",
            ],
            "",
        )
    )
    contexts = dict(zip(frames.column(0).to_pylist(), frames.column(1).to_pylist(), strict=True))
    positions = matrix.rows_of_frames(frames.column(0))
    ids = matrix.ids.take(pa.array(positions, pa.int64()))
    frame_ids = ids.column("frame_id").to_pylist()
    roi_ids = (
        ids.column("roi_id").to_pylist()
        if "roi_id" in ids.column_names
        else [None] * len(frame_ids)
    )
    order = sorted(range(len(frame_ids)), key=lambda i: (frame_ids[i], roi_ids[i] or ""))
    rows = _Rows(
        [frame_ids[i] for i in order],
        [None] * len(order),
        [roi_ids[i] for i in order],
        [contexts[frame_ids[i]] for i in order],
    )
    return rows, positions[np.asarray(order, dtype=np.int64)] if order else positions


def _leader_groups(
    kind: str, rows: _Rows, a: np.ndarray, b: np.ndarray, d: np.ndarray
) -> list[DuplicateGroup]:
    """Groups of pairs (a < b in row order): each row not yet taken leads a group of the rows
    after it that are close to it and not yet taken."""
    leader = np.full(len(rows.frame_ids), -1, dtype=np.int64)
    distance = np.zeros(len(rows.frame_ids))
    order = np.lexsort((d, b, a))
    for i in order:
        first, other = int(a[i]), int(b[i])
        if leader[first] not in (-1, first) or leader[other] != -1:
            continue
        leader[first] = first
        leader[other] = first
        distance[other] = d[i]
    groups: list[DuplicateGroup] = []
    for head in np.flatnonzero(leader == np.arange(len(leader))):
        members = [int(head), *np.flatnonzero((leader == head) & (np.arange(len(leader)) != head))]
        groups.append(
            _group(kind, len(groups), rows, members, [float(distance[m]) for m in members])
        )
    return groups


def _group(
    kind: str, group_id: int, rows: _Rows, members: list[int], distances: list[float]
) -> DuplicateGroup:
    return DuplicateGroup(
        kind,
        group_id,
        tuple(rows.frame_ids[m] for m in members),
        tuple(rows.source_ids[m] for m in members),
        tuple(rows.roi_ids[m] for m in members),
        tuple(distances),
    )


def _renumbered(group: DuplicateGroup, group_id: int) -> DuplicateGroup:
    return DuplicateGroup(
        group.kind, group_id, group.frame_ids, group.source_ids, group.roi_ids, group.distances
    )


def _rows(groups: tuple[DuplicateGroup, ...], key: str | None) -> pa.Table:
    records: dict[str, list[Any]] = {
        n: []
        for n in ("kind", "group_id", "rank", "frame_id", "source_id", "roi_id", "key", "distance")
    }
    for g in groups:
        for rank, member in enumerate(
            zip(g.frame_ids, g.source_ids, g.roi_ids, g.distances, strict=True)
        ):
            values = (
                g.kind,
                g.group_id,
                rank,
                member[0],
                member[1],
                member[2],
                key if g.kind == "embedding" else None,
                member[3],
            )
            for name, value in zip(records, values, strict=True):
                records[name].append(value)
    return pa.table(
        {
            "kind": pa.array(records["kind"], pa.string()),
            "group_id": pa.array(records["group_id"], pa.int32()),
            "rank": pa.array(records["rank"], pa.int32()),
            "frame_id": pa.array(records["frame_id"], pa.string()),
            "source_id": pa.array(records["source_id"], pa.string()),
            "roi_id": pa.array(records["roi_id"], pa.string()),
            "key": pa.array(records["key"], pa.string()),
            "distance": pa.array(records["distance"], pa.float64()),
        }
    )


def _save(view: View, results: DuplicateResults) -> None:
    table = results.to_arrow()
    with view.catalog.transaction() as con:
        for kind in results.kinds:
            con.execute("DELETE FROM duplicate_groups WHERE kind = ?", [kind])
        with registered(con, "_groups", table):
            con.execute("INSERT INTO duplicate_groups SELECT *, ? FROM _groups", [now()])
        counts = {k: len(results.of(k)) for k in results.kinds}
        audit(
            con,
            "find_duplicates",
            {"kinds": list(results.kinds), "key": results.key},
            table.num_rows,
            details={"groups": counts},
        )
