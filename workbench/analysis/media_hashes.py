"""Content and perceptual hashes of every source picture, computed once and kept in the catalog.

`media_hashes` holds, per source of a frame: the file's size and modification time when it was
hashed, a content hash of its bytes (BLAKE2b, 128 bits, hex: equal files, equal hash) and a
64-bit perceptual hash (imagehash's pHash of the picture: similar pictures, hashes a few bits
apart). Hashes are computed only for sources that have none yet (or, with refresh=True, whose
file changed); a file that cannot be read is recorded with its error and costs only itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from workbench.analysis._store import registered
from workbench.analysis.embeddings.report import MAX_ERRORS
from workbench.analysis.embeddings.store import now
from workbench.errors import AnalysisError, MediaError
from workbench.media.files import resolve_media
from workbench.media.images import open_image
from workbench.query._sql import Compiled

if TYPE_CHECKING:
    from workbench.query.view import View

_BATCH = 512
_READ = 1 << 20


@dataclass
class HashReport:
    hashed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Hashed:
    frame_id: str
    source_id: str
    uri: str | None
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None
    phash: int | None = None
    error: str | None = None


def compute_hashes(view: View, *, refresh: bool = False, progress: bool = True) -> HashReport:
    """Hash the sources of the view's frames that have no hash yet (refresh=True: also those
    whose file's size or modification time changed, and those that failed before)."""
    catalog = view.catalog
    roots = catalog.media_roots()
    todo = [t for t in _todo(view) if t[6] or (refresh and _changed(t, roots))]
    report = HashReport()
    if not todo:
        return report
    if catalog.read_only:
        raise AnalysisError(
            f"{catalog.path} is opened read-only: {len(todo)} sources have no hashes yet and "
            "hashes are stored in the catalog"
        )
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="workbench-hash") as pool,
        tqdm(total=len(todo), desc="hash pictures", unit="picture", disable=not progress) as bar,
    ):
        for batch in _chunks(todo, _BATCH):
            rows = list(pool.map(lambda t: _hash(t, roots), batch))
            _store(view, rows)
            for row in rows:
                if row.error is None:
                    report.hashed += 1
                else:
                    report.failed += 1
                    if len(report.errors) < MAX_ERRORS:
                        report.errors.append(
                            f"frame {row.frame_id!r} source {row.source_id!r}: {row.error}"
                        )
            bar.update(len(batch))
    return report


def _todo(view: View) -> list[tuple[Any, ...]]:
    frames = view.compile()
    query = Compiled.join(
        [
            "SELECT s.frame_id, s.id, s.uri, h.size, h.mtime_ns, h.error, h.frame_id IS NULL"
            " FROM sources s"
            " JOIN (",
            frames,
            ") v ON v.id = s.frame_id LEFT JOIN media_hashes h ON h.frame_id = s.frame_id"
            " AND h.source_id = s.id AND h.uri IS NOT DISTINCT FROM s.uri"
            " ORDER BY s.frame_id, s.id",
        ],
        "",
    )
    return [tuple(r) for r in view.rows(query)]


def _changed(row: tuple[Any, ...], roots: list[str]) -> bool:
    uri, size, mtime_ns, error = row[2:6]
    if size is None or error is not None:
        return True
    try:
        stat = os.stat(resolve_media(uri, roots))
    except (MediaError, OSError):
        return True
    return (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns)


def _chunks(rows: list[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _hash(row: tuple[Any, ...], roots: list[str]) -> _Hashed:
    frame_id, source_id, uri = row[0], row[1], row[2]
    if uri is None:
        return _Hashed(frame_id, source_id, None, error="the source has no URI")
    try:
        path = resolve_media(uri, roots)
        stat = os.stat(path)
        digest = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ):
                digest.update(chunk)
        phash = perceptual_hash(open_image(path, max_side=256, uri=uri))
    except (MediaError, OSError) as exc:
        return _Hashed(frame_id, source_id, uri, error=str(exc))
    return _Hashed(
        frame_id, source_id, uri, stat.st_size, stat.st_mtime_ns, digest.hexdigest(), phash
    )


def perceptual_hash(image: Any) -> int:
    """imagehash's pHash (DCT of a 32x32 grey picture, 64 bits) as an unsigned integer."""
    import imagehash

    bits = np.asarray(imagehash.phash(image).hash, dtype=bool).reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _store(view: View, rows: list[_Hashed]) -> None:
    table = pa.table(
        {
            "frame_id": pa.array([r.frame_id for r in rows], pa.string()),
            "source_id": pa.array([r.source_id for r in rows], pa.string()),
            "uri": pa.array([r.uri for r in rows], pa.string()),
            "size": pa.array([r.size for r in rows], pa.int64()),
            "mtime_ns": pa.array([r.mtime_ns for r in rows], pa.int64()),
            "content_hash": pa.array([r.content_hash for r in rows], pa.string()),
            "phash": pa.array([r.phash for r in rows], pa.uint64()),
            "error": pa.array([r.error for r in rows], pa.string()),
        }
    )
    with view.catalog.transaction() as con, registered(con, "_hashes", table):
        con.execute(
            "DELETE FROM media_hashes h USING _hashes n"
            " WHERE h.frame_id = n.frame_id AND h.source_id = n.source_id"
        )
        con.execute("INSERT INTO media_hashes SELECT *, ? FROM _hashes", [now()])
