"""Fixtures of the Label Studio backend tests: one real server per session, a catalog per test.

The server is started from the virtualenv `.ci/labelstudio-venv` makes (the Makefile's test
target runs it); without it the tests that need the server are skipped, saying so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workbench.backends import LocalBackend
from workbench.backends.labelstudio import LabelStudioBackend, LabelStudioConfig
from workbench.services import Workbench
from workbench.store.catalog import Catalog

from . import lsserver


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[lsserver.LabelStudioServer]:
    if not lsserver.installed():
        pytest.skip(lsserver.not_installed_reason())
    server = lsserver.LabelStudioServer(tmp_path_factory.mktemp("labelstudio"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def personal_token(ls_server: lsserver.LabelStudioServer) -> str:
    return ls_server.personal_access_token()


@pytest.fixture
def ls_config(ls_server: lsserver.LabelStudioServer) -> LabelStudioConfig:
    return lsserver.backend_config(ls_server)


@pytest.fixture
def backend(ls_config: LabelStudioConfig) -> Iterator[LabelStudioBackend]:
    made = LabelStudioBackend(ls_config)
    yield made
    made.close()


@pytest.fixture
def media(ls_server: lsserver.LabelStudioServer) -> Path:
    """A fresh media folder below the server's document root (it serves these itself)."""
    folder = ls_server.document_root / f"media-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


@pytest.fixture
def catalog(make_catalog: Any, media: Path) -> Catalog:
    """The test catalog: see ls_catalog.py. `outside/` holds images the server cannot see."""
    return make_catalog("labelstudio", media=media)


@pytest.fixture
def wb(catalog: Catalog, backend: LabelStudioBackend) -> Workbench:
    return Workbench(
        catalog, actor="tester", backends={"local": LocalBackend(), "labelstudio": backend}
    )


@pytest.fixture
def api(ls_server: lsserver.LabelStudioServer) -> Iterator[httpx.Client]:
    """Plain HTTP to the server, as an annotator's browser (or a curious admin) talks to it."""
    with httpx.Client(
        base_url=ls_server.url,
        headers={"Authorization": f"Token {ls_server.token}"},
        timeout=60,
    ) as client:
        yield client
