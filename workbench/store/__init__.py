"""The DuckDB catalog: schema, migrations, connections and transactions."""

from workbench.store.catalog import Catalog, CatalogInfo, default_catalog_path, open_catalog
from workbench.store.sqlsafe import check_read_only, quote_ident

__all__ = [
    "Catalog",
    "CatalogInfo",
    "check_read_only",
    "default_catalog_path",
    "open_catalog",
    "quote_ident",
]
