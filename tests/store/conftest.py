"""What the catalog's tests share: the statements a catalog runs, noted as it runs them."""

from typing import Any

import pytest

from workbench.store import catalog as store_catalog


class _Recorded:
    """A cursor whose statements are noted in `seen` (the rest passed through)."""

    def __init__(self, con: Any, seen: list[str]) -> None:
        self._con, self._seen = con, seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._seen.append(" ".join(str(sql).split()))
        return self._con.execute(sql, *args, **kwargs)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the catalogs opened in the test run through their cursors, in order."""
    noted: list[str] = []
    inner = store_catalog.Catalog._cursor
    monkeypatch.setattr(
        store_catalog.Catalog, "_cursor", lambda self: _Recorded(inner(self), noted)
    )
    return noted
