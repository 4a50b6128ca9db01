"""Bringing a catalog's file to the schema version this workbench knows, once, as it opens.

Opened read-write, a file of an older version is migrated one transaction per version (the
steps are store/schema.py's MIGRATIONS), and a new, empty file gets the schema in one go
(store/fresh.py); a newer file, or an older one opened read-only, is refused. This runs
before the catalog keeps its layout or seals its engine (store/catalog.py), on the catalog's
own transactions: apart from the catalog because nothing else of it runs at that moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import LakeError, SchemaVersionError
from workbench.store import fresh, fresh_ddl
from workbench.store.imports import mark_interrupted
from workbench.store.lake import Lake
from workbench.store.schema import MIGRATIONS, SCHEMA_VERSION, Unbatched

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


def check_version(catalog: Catalog, found: int | None = None) -> None:
    """Refuse a file newer than this workbench, or older and opened read-only. `found`: its
    version as `migrate` left it (else read here)."""
    found = catalog.schema_version if found is None else found
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{catalog.path} has schema version {found}; this workbench knows up to "
            f"{SCHEMA_VERSION}: upgrade workbench to open it"
        )
    if catalog.read_only and found < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{catalog.path} has schema version {found} and is opened read-only: open it "
            "read-write once to upgrade it"
        )


def migrate(catalog: Catalog) -> int:
    """Bring the file to SCHEMA_VERSION; returns the version it is at then (a newer file's
    own, which check_version refuses)."""
    found = catalog.schema_version
    if found > SCHEMA_VERSION:
        return found
    if found == 0 and fresh_ddl.VERSION == SCHEMA_VERSION and _empty(catalog):
        with catalog.transaction() as con:  # a new file: the schema in one go (store/fresh.py)
            fresh.create(con)
        return fresh_ddl.VERSION
    migrate_in_turn(catalog, found)
    return SCHEMA_VERSION


def migrate_in_turn(catalog: Catalog, found: int = 0) -> None:
    """Every migration from version `found` on, the long way a new file is spared."""
    # One transaction per version: a failure leaves the catalog at the last version done.
    lake = Lake.load(catalog.cursor()) if 0 < found < SCHEMA_VERSION else None
    for version in range(found, SCHEMA_VERSION):
        steps = MIGRATIONS[version]
        rewrites = [s for s in steps if isinstance(s, Unbatched)]
        if lake is not None and any(not r.local_only for r in rewrites):
            raise LakeError(
                f"{catalog.path} keeps its frames in a lake older than schema version "
                f"{version + 1}: rebuild it (`workbench lake init` from a local catalog)"
            )
        for rewrite in rewrites:
            if lake is None or not rewrite.local_only:
                con = catalog.cursor()
                try:
                    rewrite.run(con)
                finally:
                    con.close()
        with catalog.transaction() as con:
            if lake is not None:  # migrations alter stand-ins; the lake follows
                lake.stand_in(con)
            for step in steps:
                if isinstance(step, str):
                    con.execute(step)
                elif not isinstance(step, Unbatched):
                    step(con)
            if lake is not None:
                lake.follow_migrations(con)
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                [str(version + 1)],
            )
    # Open read-write, this process alone holds the file: an import another process left
    # `running` was killed before it could say so (workbench/store/imports.py).
    mark_interrupted(catalog)


def _empty(catalog: Catalog) -> bool:
    """Whether the file holds no table (a new catalog)."""
    con = catalog.cursor()
    try:
        return not con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0]
    finally:
        con.close()
