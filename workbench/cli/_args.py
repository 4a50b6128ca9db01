"""What every `workbench` command shares: its exit codes and the catalog it names."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.catalog import Catalog
from workbench.store.catalog import default_catalog_path

EXIT_REJECTED = 1  # some records were refused; the good ones are stored
EXIT_ERROR = 2


def catalog_path(args: argparse.Namespace) -> Path:
    """`--catalog`, else $WORKBENCH_CATALOG, else ./workbench.duckdb."""
    return Path(getattr(args, "catalog", None) or default_catalog_path())


def open_catalog(args: argparse.Namespace, *, read_only: bool = False) -> Catalog:
    return Catalog(catalog_path(args), read_only=read_only)
