"""Fixtures shared by the importers' tests."""

from __future__ import annotations

import pytest

from workbench.ingest._coco_digests import ImageDigests


@pytest.fixture
def coco_unchanged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many images each columnar import of a COCO instances file left unconverted (its
    digests found their frames stored as they make them), in the order of the imports."""
    found: list[int] = []
    close = ImageDigests.close

    def closing(self: ImageDigests) -> None:
        found.append(self.unchanged)
        close(self)

    monkeypatch.setattr(ImageDigests, "close", closing)
    return found
