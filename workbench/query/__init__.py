"""Views over the catalog: immutable stage chains compiled to parameterised SQL, with facets,
paging and saved views. Start from `catalog.view()`; see docs/queries.md."""

from workbench.query._sql import Compiled
from workbench.query.saved import SavedView, delete_view, list_views, load_view, save_view
from workbench.query.view import View

__all__ = [
    "Compiled",
    "SavedView",
    "View",
    "delete_view",
    "list_views",
    "load_view",
    "save_view",
]
