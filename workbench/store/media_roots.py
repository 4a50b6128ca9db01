"""The catalog's media roots: the folders whose files the served app may hand out.

They are rows of the catalog's `media_roots` table, declared by a person or by an import
and never inferred (docs/catalog.md, docs/security.md). `Catalog` (store/catalog.py) takes
its media root methods from `MediaRoots`: they use its cursors and transactions as any
writer does, and nothing else of it, so they stand apart from its connections.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from workbench.errors import CatalogError

# Origin of the media roots an older workbench registered from imported URIs: kept for a
# person to review (`workbench media-roots list`), never served.
INFERRED = "inferred"


@dataclass(frozen=True)
class MediaRoot:
    """A folder whose files the served app may hand out, and who declared it."""

    path: str
    origin: str | None
    added: datetime | None
    served: bool

    def as_dict(self) -> dict[str, Any]:
        added = self.added.isoformat() if self.added else None
        return {"path": self.path, "origin": self.origin, "added": added, "served": self.served}


class _Catalog(Protocol):
    """What the media root methods use of the catalog they belong to."""

    def cursor(self) -> duckdb.DuckDBPyConnection: ...

    def transaction(
        self, *, layout: bool = True
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...


class MediaRoots:
    """A catalog's media root methods (a part of `Catalog`)."""

    # Media roots are declared, never inferred from imported records: the folders of the
    # files a person imports, folders named with --media-root / media_roots=, and folders
    # added here. The served app hands out files under these folders only.
    def add_media_roots(
        self: _Catalog, dirs: Iterable[str | os.PathLike[str]], *, origin: str = "configured"
    ) -> list[str]:
        """Declare folders whose files may be served to a browser; returns those that were new.

        Paths are stored resolved (symlinks followed); an `s3://bucket/prefix/` is stored as
        given (objects under it are served, media/remote.py). `origin` says who declared them:
        `configured` (a person, `workbench media-roots add`), `import` (the folder of files
        being imported), `option` (`--media-root`), `demo`. A folder an older workbench had
        inferred from imported URIs (origin `inferred`, not served) is served again once it
        is declared here.
        """
        if origin == INFERRED:
            raise CatalogError("media roots are declared, never inferred")
        wanted = sorted({_root_text(d) for d in dirs})
        if not wanted:
            return []
        with self.transaction(layout=False) as con:  # media roots only
            known = dict(con.execute("SELECT path, origin FROM media_roots").fetchall())
            for root in wanted:
                if root not in known:
                    con.execute(
                        "INSERT INTO media_roots (path, origin, added) "
                        "VALUES (?, ?, current_timestamp)",
                        [root, origin],
                    )
                elif known[root] == INFERRED:
                    con.execute(
                        "UPDATE media_roots SET origin = ?, added = current_timestamp "
                        "WHERE path = ?",
                        [origin, root],
                    )
        return [r for r in wanted if known.get(r, INFERRED) == INFERRED]

    def remove_media_roots(self: _Catalog, dirs: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Stop serving files under these folders; returns the roots that were removed.

        Each path is matched as given and resolved, so a root whose folder has since been
        deleted or moved can still be removed. Folders inside a removed root that were
        declared on their own stay roots.
        """
        given = {str(d) for d in dirs} | {_root_text(d) for d in dirs}
        with self.transaction(layout=False) as con:  # media roots only
            known = [r[0] for r in con.execute("SELECT path FROM media_roots").fetchall()]
            removed = sorted(r for r in known if r in given)
            for root in removed:
                con.execute("DELETE FROM media_roots WHERE path = ?", [root])
        return removed

    def media_roots(self: _Catalog) -> list[str]:
        """The folders whose files are served (sorted)."""
        rows = self.cursor().execute(
            "SELECT path FROM media_roots WHERE origin IS DISTINCT FROM ? ORDER BY path",
            [INFERRED],
        )
        return [r[0] for r in rows.fetchall()]

    def media_root_entries(self: _Catalog) -> list[MediaRoot]:
        """Every media root with where it came from, including those not served."""
        rows = (
            self.cursor()
            .execute("SELECT path, origin, added FROM media_roots ORDER BY path")
            .fetchall()
        )
        return [MediaRoot(path, origin, added, origin != INFERRED) for path, origin, added in rows]


def _root_text(folder: str | os.PathLike[str]) -> str:
    """A media root as stored: a local folder resolved, an s3:// prefix as given, ending
    with one slash (media/remote.py)."""
    text = str(folder)
    if text.startswith("s3://"):
        return text.rstrip("/") + "/"
    return str(Path(folder).resolve())
