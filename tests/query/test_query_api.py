"""The public surface of workbench.query, pinned: changing it is a decision, not an accident."""

import workbench.query


def test_public_names():
    assert workbench.query.__all__ == [
        "Compiled",
        "SavedView",
        "View",
        "delete_view",
        "list_views",
        "load_view",
        "save_view",
    ]
    for name in workbench.query.__all__:
        assert getattr(workbench.query, name) is not None


def test_catalog_view_is_a_query_view(catalog):
    view = catalog.view()
    assert isinstance(view, workbench.query.View)
    assert view.stages == ()
    assert view.catalog is catalog
