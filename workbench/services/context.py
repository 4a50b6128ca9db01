"""What every action shares: the catalog, the actor, the backends, and the audit trail.

An action runs inside `Action`: its writes happen in one transaction together with its audit
row, a dry run does the same work and rolls it back (so a dry run reports exactly what the
real run would do), and a refused or failed action still leaves an audit row saying why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import duckdb
import pyarrow as pa

from workbench.backends import AnnotationBackend, default_backends
from workbench.errors import SerialisationError
from workbench.model.serialise import Serialisable
from workbench.services.arguments import flag
from workbench.services.errors import InvalidArgument, ServiceError
from workbench.store.audit import append_audit_row
from workbench.store.catalog import Catalog

# Ids listed in an audit row's target before the list is cut (the count is always whole).
AUDIT_MAX_IDS = 1000


@dataclass(frozen=True)
class ServiceContext:
    catalog: Catalog
    actor: str
    backends: Mapping[str, AnnotationBackend] = field(default_factory=default_backends)

    def backend(self, name: str) -> AnnotationBackend:
        try:
            return self.backends[name]
        except KeyError:
            known = ", ".join(sorted(self.backends))
            raise InvalidArgument(f"unknown backend {name!r}: expected one of {known}") from None


def id_list(ids: Sequence[str]) -> dict[str, Any]:
    """A list of ids for an audit target, cut at AUDIT_MAX_IDS."""
    ids = list(ids)
    out: dict[str, Any] = {"ids": ids[:AUDIT_MAX_IDS], "count": len(ids)}
    if len(ids) > AUDIT_MAX_IDS:
        out["truncated"] = True
    return out


class _Rollback(Exception):
    """Raised inside a dry run's transaction to roll it back."""


class Action:
    """One audited action. Use `with Action(...) as act:` and `with act.transaction() as con:`.

    Call `act.done(count, details)` inside the transaction when the work is complete: the audit
    row is written in the same transaction (or, for a dry run, after the rollback).
    """

    def __init__(
        self, ctx: ServiceContext, action: str, target: Mapping[str, Any], *, dryrun: bool = False
    ) -> None:
        self.ctx = ctx
        self.action = action
        self.target = dict(target)
        self.dryrun = flag(dryrun, "dryrun")
        self.count: int | None = None
        self.details: dict[str, Any] | None = None
        self._recorded = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or self._recorded:
            return
        if isinstance(exc, ServiceError):
            outcome = f"refused: {type(exc).__name__}: {exc}"
        elif isinstance(exc, Exception):
            outcome = f"failed: {type(exc).__name__}: {exc}"
        else:
            outcome = f"interrupted: {type(exc).__name__}"
        with self.ctx.catalog.transaction() as con:
            self._write(con, outcome)

    def done(self, count: int, details: Mapping[str, Any] | None = None) -> None:
        self.count = count
        self.details = dict(details) if details else None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The action's transaction; rolled back at the end when this is a dry run."""
        try:
            with self.ctx.catalog.transaction() as con:
                yield con
                if self.dryrun:
                    raise _Rollback
                self._write(con, "ok")
        except _Rollback:
            with self.ctx.catalog.transaction() as con:
                self._write(con, "ok")

    def record(self) -> None:
        """Write the audit row of an action that needed no transaction of its own."""
        with self.ctx.catalog.transaction() as con:
            self._write(con, "ok")

    def _write(self, con: duckdb.DuckDBPyConnection, outcome: str) -> None:
        append_audit_row(
            con,
            actor=self.ctx.actor,
            action=self.action,
            target=self.target,
            count=self.count,
            outcome=outcome,
            details=self.details,
            dry_run=self.dryrun,
        )
        self._recorded = True


def rows(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """A query's rows as dicts (small results only: big ones go through Arrow)."""
    result = con.execute(query, list(params))
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def arrow(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> pa.Table:
    """A query's whole result as an Arrow table (fully consumed, so the cursor is free)."""
    table = con.sql(query, params=list(params)).to_arrow_table()
    if table is None:  # only for statements without a result
        raise ValueError(f"query returned no result: {query[:80]}")
    return table


def records(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as row dicts, converted column by column (~2x faster than to_pylist)."""
    columns = table.to_pydict()
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def columns_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Row dicts as an Arrow table of `schema`, built column by column (faster than from_pylist)."""
    return pa.table(
        {f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}, schema=schema
    )


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> Any:
    found = con.execute(query, list(params)).fetchall()
    return found[0][0] if found else None


def parse[T: Serialisable](
    cls: type[T], value: T | Mapping[str, Any], what: str, *, argument: str | None = None
) -> T:
    """An argument that may arrive as the object or as its dict (over HTTP); `what` says
    where it is in the call (`scenes[3]`), `argument` which argument it belongs to."""
    if isinstance(value, cls):
        return value
    try:
        return cls.from_dict(value)  # type: ignore[arg-type]
    except SerialisationError as exc:
        raise InvalidArgument(f"{what}: {exc}", argument=argument) from exc


def strings(values: Sequence[str] | str | None, what: str) -> list[str]:
    """A list of ids from a caller: a bare string is refused (it would be read as characters)."""
    if values is None:
        return []
    if isinstance(values, str):
        raise InvalidArgument(f"{what}: expected a list of ids, got the string {values!r}")
    out = list(values)
    bad = [v for v in out if not isinstance(v, str) or not v]
    if bad:
        raise InvalidArgument(f"{what}: ids must be non-empty strings, got {bad[:5]!r}")
    return out
