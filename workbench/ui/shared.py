"""Reads that do not depend on the session, shared by the sessions of a served catalog.

Every browser session of a served app starts on the same screen: the catalog's label fields,
the first page of tiles of the empty query and its facets. At 10M frames those reads cost a
few hundred milliseconds of CPU per page load; the answers only change when the catalog
does. They are kept per catalog, keyed by the catalog's version (`Catalog.generation`, which
every write through the catalog moves on, a lake catalog's refresh included), so a write
makes every later read ask the catalog again.

Pages of tiles, each under its page (a query's first read keeps its page there too), and
their marks are kept too (apart, more of them: `MAX_PAGES`), so turning back to a page, or
to one another session showed, reads nothing: a page of 48 frame tiles costs the server
40-50 ms to read (its query, the ROIs thinned for the tiles), its marks (tags, runs) ~8 ms.

Only served sessions share: in a notebook or a script each app reads the catalog itself (a
test may change the catalog by other means between two apps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import panel as pn

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog

# Answers kept per catalog (of its current version): the empty query's and those of a few
# queries sessions start from (saved views, links), not every query anybody typed.
MAX_ENTRIES = 32
# Pages of tiles and their marks, kept apart: paging never pushes the first screen's reads out.
MAX_PAGES = 96
PAGES = "pages"
_BOUNDS = {"": MAX_ENTRIES, PAGES: MAX_PAGES}

_LOCK = threading.Lock()
# per catalog: (version, {kind: {key: answer}}), kind "" or PAGES
_KEPT: WeakKeyDictionary[Catalog, tuple[int, dict[str, dict[Hashable, object]]]] = (
    WeakKeyDictionary()
)


def catalog_version(catalog: Catalog) -> int:
    """The catalog's version: moves on with every write (a lake catalog first looks whether
    its tables moved on, as its cursors do)."""
    catalog.refresh_lake(force=False)
    return int(getattr(catalog, "generation", 0))


# Two ways into the same answers, because callers wait for them differently: `shared_read`
# reads when nothing is kept (on the caller's thread, which waits), `kept_read` never does
# (the facets and the marks show a kept answer with the page at once and read otherwise in
# the background, where they call `shared_read`).


def shared_read[T](
    catalog: Catalog, key: Hashable, read: Callable[[], T], *, served: bool, kind: str = ""
) -> T:
    """`read()`, or its answer for `key` kept from another session at the catalog's current
    version. `served`: whether the caller is a served session (else it reads, keeps
    nothing). `kind`: "" for the first screen's reads, `PAGES` for pages of tiles and their
    marks (each kind keeps its own number of answers, the oldest dropped first). Safe from
    any thread: two sessions asking at once may both read."""
    if not served:
        return read()
    version, kept = _look(catalog, key, kind)
    if kept is not _NONE:
        return kept  # type: ignore[return-value]
    value = read()
    if catalog_version(catalog) != version:  # a write meanwhile: the answer may be older
        return value
    with _LOCK:
        kept_version, kinds = _KEPT.get(catalog, (version, {}))
        if kept_version != version:
            kinds = {}
        entries = kinds.setdefault(kind, {})
        if len(entries) >= _BOUNDS[kind]:
            entries.pop(next(iter(entries)))
        entries[key] = value
        _KEPT[catalog] = (version, kinds)
    return value


def kept_read(catalog: Catalog, key: Hashable, *, served: bool, kind: str = "") -> object | None:
    """The answer kept for `key` (of `kind`) at the catalog's current version, None when
    there is none (or the caller is not served)."""
    if not served:
        return None
    kept = _look(catalog, key, kind)[1]
    return None if kept is _NONE else kept


_NONE = object()  # nothing kept for the key


def _look(catalog: Catalog, key: Hashable, kind: str) -> tuple[int, object]:
    """The catalog's version and the answer kept for `key` at that version (or `_NONE`)."""
    version = catalog_version(catalog)
    with _LOCK:
        kept_version, kinds = _KEPT.get(catalog, (version, {}))
        if kept_version != version:
            return version, _NONE
        return version, kinds.get(kind, {}).get(key, _NONE)


def served_session() -> bool:
    """Whether the code runs for a served session (in its callbacks or its app's build)."""
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None
