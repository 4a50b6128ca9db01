"""workbench.Catalog: the store's catalog with the entry points of the layers above it."""

from __future__ import annotations

from pathlib import Path

import workbench
from workbench.catalog import View
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.query import View as QueryView
from workbench.query import load_view, save_view
from workbench.store.catalog import Catalog as StoreCatalog


def _catalog(tmp_path: Path) -> workbench.Catalog:
    catalog = workbench.open(tmp_path / "facade.duckdb")
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(3):
            rois = [Roi(f"g{i}", "box", ["car"], geometry=[box_ring(1, 1, 10, 10)])]
            rois.append(Roi(f"p{i}", "box", ["car"], "predictions", [box_ring(1, 1, 10, 10)], 0.9))
            writer.add(Frame(f"f{i}", [Source("image", f"/{i}.jpg", 20, 20)], rois))
    return catalog


def test_open_gives_a_store_catalog_with_views(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        assert isinstance(catalog, workbench.Catalog) and isinstance(catalog, StoreCatalog)
        view = catalog.view().where("f.id <> ?", "f0").sort_by("id").limit(5)
        assert type(view) is View and isinstance(view, QueryView)
        assert view.frame_ids() == ["f1", "f2"]
        assert view == QueryView(catalog).where("f.id <> ?", "f0").sort_by("id").limit(5)
        assert not hasattr(StoreCatalog, "view") and not hasattr(QueryView, "evaluate_detections")


def test_views_of_every_origin_evaluate(tmp_path: Path) -> None:
    with _catalog(tmp_path) as catalog:
        results = catalog.view().where("f.id <> ?", "f0").evaluate_detections("predictions")
        assert results.frames == 2
        again = catalog.load_evaluation_view("eval")
        assert type(again) is View and again.frame_ids() == ["f1", "f2"]
        save_view(catalog, "two", catalog.view().limit(2))
        plain = load_view(catalog, "two")
        whole = catalog.evaluate_detections("predictions", eval_key="two", view=plain)
        assert whole.frames == 2 and [e.eval_key for e in catalog.list_evaluations()] == [
            "eval",
            "two",
        ]
