"""Small real catalogs for the tests, built from named recipes.

`CatalogFactory` (the root conftest's `catalog_templates` fixture, and `make_catalog` per
test) builds each templated recipe once per test session in a folder of its own and copies
the catalog file for every test that asks for it; a test may write to its copy. Media files
stay in the template's folder (`Template.media`), shared read-only by every copy. Recipes
that cannot be shared (their media must live where a test says) are built fresh each time.

| recipe | what it is | where it is described |
|---|---|---|
| `ui` | 4 sequences of 5 frames and a 3-frame, two-camera group, real JPEGs | tests/ui/ui_catalog.py |
| `ui-many` | `ui` plus 100 single-frame contexts (three pages of tiles) | tests/ui/ui_catalog.py |
| `services` | single images, a camera sequence, a two-camera rig; tiny image files | tests/services/service_catalog.py |
| `query` | 10 frames written out row by row, tags included | tests/query/query_catalog.py |
| `api` | 12 frames in 3 contexts with a box each (the HTTP API's fuzzing) | tests/security/api_catalog.py |
| `boxes` | a generated COCO dataset, ground truth and predictions (`made`: the Dataset) | tests/analysis/eval_data.py |
| `cvat` | images and a video for the CVAT backend | tests/backends/cvat/cvat_catalog.py |
| `labelstudio` | fresh each time: images in `media=` (the server's document root) and `outside=` | tests/backends/labelstudio/ls_catalog.py |
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.store.catalog import Catalog


@dataclass(frozen=True)
class Template:
    """A built catalog: its file, the folder of its media, and what else the recipe made."""

    path: Path
    media: Path
    made: Any = None


def _ui(many_contexts: int) -> Callable[[Path], Template]:
    def build(folder: Path) -> Template:
        from tests.ui.ui_catalog import build_catalog

        build_catalog(folder, many_contexts=many_contexts).close()
        return Template(folder / "ui.duckdb", folder / "media")

    return build


def _services(folder: Path) -> Template:
    from tests.services.service_catalog import build_catalog

    build_catalog(folder / "services.duckdb", folder / "media").close()
    return Template(folder / "services.duckdb", folder / "media")


def _query(folder: Path) -> Template:
    from tests.query.query_catalog import build_catalog

    build_catalog(folder / "query.duckdb").close()
    return Template(folder / "query.duckdb", folder)


def _api(folder: Path) -> Template:
    from tests.security.api_catalog import build_catalog

    return Template(build_catalog(folder), folder / "media")


def _boxes(folder: Path) -> Template:
    from tests.analysis.eval_data import import_dataset, make_dataset

    data = make_dataset(folder / "data", seed=31, images=40, busy_images=1, write_images=True)
    import_dataset(data, folder / "boxes.duckdb").close()
    return Template(folder / "boxes.duckdb", folder / "data", made=data)


def _cvat(folder: Path) -> Template:
    from tests.backends.cvat.cvat_catalog import build_catalog

    build_catalog(folder / "cvat.duckdb", folder / "media").close()
    return Template(folder / "cvat.duckdb", folder / "media")


def _labelstudio(folder: Path, *, media: Path, outside: Path | None = None) -> Template:
    from tests.backends.labelstudio.ls_catalog import build_catalog

    outside = outside if outside is not None else folder / "outside"
    build_catalog(folder / "ls.duckdb", media, outside).close()
    return Template(folder / "ls.duckdb", media)


# Recipes built once per session and copied per test.
TEMPLATES: dict[str, Callable[[Path], Template]] = {
    "ui": _ui(0),
    "ui-many": _ui(100),
    "services": _services,
    "query": _query,
    "api": _api,
    "boxes": _boxes,
    "cvat": _cvat,
}
# Recipes built in the test's own folder every time (they take options).
FRESH: dict[str, Callable[..., Template]] = {"labelstudio": _labelstudio}


# `WORKBENCH_TEST_STORAGE=lake`: every catalog a recipe makes is turned into a lake-backed one
# (frames, sources and ROIs as Delta tables beside it; workbench/store/lake.py) before the
# test opens it, so the same tests run over both storage modes (Makefile `pytest-lake`).
# `WORKBENCH_LAKE_FORMAT=iceberg` makes those lakes Iceberg tables (a SQLite table catalog
# beside each catalog file) instead of Delta.
STORAGE = os.environ.get("WORKBENCH_TEST_STORAGE", "local")
LAKE_FORMAT = os.environ.get("WORKBENCH_LAKE_FORMAT", "delta")


def to_storage(path: Path) -> Path:
    """The catalog at `path` in the storage mode the tests run in."""
    if STORAGE == "lake":
        from workbench.store.lake_write import open_for_lake

        lake = path.with_name(path.stem + ".lake")
        # one bucket: the lake keeps the insertion order the tests expect (docs/scale-out.md)
        open_for_lake(
            str(path), str(lake), attach=False, buckets=1, progress=False, fmt=LAKE_FORMAT
        )
    return path


class CatalogFactory:
    """Catalogs from recipes: templates built once in `root`, copies where a test wants."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._templates: dict[str, Template] = {}

    def template(self, recipe: str) -> Template:
        """The recipe's template, built on first use."""
        if recipe not in TEMPLATES:
            known = ", ".join(sorted(TEMPLATES))
            raise KeyError(f"no catalog recipe {recipe!r} to share (templates: {known})")
        found = self._templates.get(recipe)
        if found is None:
            folder = self.root / recipe
            folder.mkdir(parents=True)
            found = self._templates[recipe] = TEMPLATES[recipe](folder)
        return found

    def copy(self, recipe: str, folder: Path, name: str | None = None) -> Path:
        """A copy of the recipe's catalog file in `folder` (`<recipe>.duckdb` by default)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or f"{recipe}.duckdb")
        shutil.copyfile(self.template(recipe).path, path)
        return path

    def open(self, recipe: str, folder: Path, **options: Any) -> Catalog:
        """The recipe's catalog in `folder`, open: a copy of its template, or (for the recipes
        that take options) built there. The caller closes it."""
        import workbench  # imported when a test needs a catalog, not when pytest starts

        if recipe in FRESH:
            return workbench.open(to_storage(FRESH[recipe](folder, **options).path))
        if options:
            raise TypeError(f"the {recipe!r} recipe takes no options, got {sorted(options)}")
        return workbench.open(to_storage(self.copy(recipe, folder)))
