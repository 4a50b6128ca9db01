"""What every import does around its format's own work: declare media roots, keep a record.

Each importer's `import_files` is wrapped with `@recorded(format)`, which

1. declares the media roots of the import (never inferred from the records): the folders of
   the paths the person gave (a folder itself, or a file's folder), the folders named with
   `media_roots=` (`workbench ingest --media-root DIR`), and folders the importer writes or
   was told to read with an option (`frames_dir`, `images_dir`);
2. opens the import's record in the catalog's `imports` table (workbench/store/imports.py);
   the CatalogWriter adds the counts in the transaction of each batch it commits and checks
   every URI it stores against the roots (those outside are counted, stored, never served);
3. closes the record `finished`, `failed` (an exception) or `interrupted` (Ctrl-C).

Both arguments are keyword-only and taken by the wrapper: `media_roots` (folders) and `actor`
(who imports; default $USER).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from workbench.errors import IngestError, RecordError
from workbench.media.files import MediaRootCheck
from workbench.model.validation import check_text
from workbench.store import interrupts
from workbench.store.audit import default_actor
from workbench.store.imports import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    MAX_RECORDED_ERRORS,
    ImportCounts,
    ImportRecord,
    begin_import,
    end_import,
    record_progress,
)

if TYPE_CHECKING:
    from workbench.ingest.writer import IngestReport
    from workbench.store.catalog import Catalog

PathArg = str | os.PathLike[str]
# Options that only change how an import looks while it runs, not what it stores.
_UNRECORDED_OPTIONS = frozenset({"progress"})


class ImportFunction(Protocol):
    """An importer's `import_files` once wrapped by `recorded`."""

    def __call__(
        self,
        catalog: Catalog,
        paths: Any,
        *,
        media_roots: Iterable[PathArg] | None = None,
        actor: str | None = None,
        **options: Any,
    ) -> IngestReport: ...


RootsOf = Callable[["Catalog", Mapping[str, Any]], Iterable[PathArg]]


@dataclass
class ImportRun:
    """An import in progress: its record, and the media roots its URIs are checked against."""

    catalog: Catalog
    record: ImportRecord
    roots: MediaRootCheck
    batches: int = 0
    report: IngestReport | None = None

    def committed(self, con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
        """Count one more batch; call inside the transaction that writes it."""
        self.batches += 1
        self.report = report
        record_progress(con, self.record.id, counts_of(report, self.batches))


_current: ContextVar[ImportRun | None] = ContextVar("workbench_import", default=None)


def current_run() -> ImportRun | None:
    """The import running in this context, if any (the CatalogWriter reports to it)."""
    return _current.get()


def counts_of(report: IngestReport, batches: int) -> ImportCounts:
    return ImportCounts(
        batches=batches,
        frames=report.frames,
        sources=report.sources,
        rois=report.rois,
        refused=report.rejected,
        warnings=sum(report.warnings.values()),
        outside_media_roots=report.outside_media_roots,
    )


def given_paths(paths: PathArg | Iterable[PathArg]) -> list[Path]:
    """The paths an importer was given, as a list (one path may be given alone)."""
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    return [Path(p) for p in paths]


def given_files(paths: PathArg | Iterable[PathArg], suffixes: Collection[str]) -> list[Path]:
    """The files an importer reads: each path given that is not a folder, and of each folder
    given the files under it whose suffix (lower-cased) is one of `suffixes`, by name."""
    found: list[Path] = []
    for path in given_paths(paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes))
        else:
            found.append(path)
    return found


def declared_roots(paths: Iterable[Path]) -> list[Path]:
    """The folders of the files a person imports: a folder itself, else the file's folder."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.append(path)
        elif path.exists():
            found.append(path.parent)
    return found


def option_folders(*names: str, default: Callable[[Catalog], Path] | None = None) -> RootsOf:
    """Roots named by an importer's options (a folder it reads or writes media in); with
    `default`, the folder it writes to when the option is not given."""

    def roots(catalog: Catalog, options: Mapping[str, Any]) -> list[PathArg]:
        given: list[PathArg] = [options[n] for n in names if options.get(n) is not None]
        if not given and default is not None:
            given.append(default(catalog))
        return given

    return roots


@contextmanager
def recorded_import(
    catalog: Catalog,
    fmt: str,
    paths: Iterable[PathArg],
    *,
    options: Mapping[str, Any] | None = None,
    media_roots: Iterable[PathArg] = (),
    extra_roots: Iterable[PathArg] = (),
    actor: str | None = None,
) -> Iterator[ImportRun]:
    """Declare the import's media roots, open its record, and close it when the block ends.

    Set `run.report` to the import's report before the block ends; the record then gets its
    final counts. An exception marks the record `failed`, Ctrl-C `interrupted`.
    """
    given, named = [Path(p) for p in paths], list(media_roots)
    folders = [*declared_roots(given), *extra_roots]
    catalog.add_media_roots(folders, origin="import")
    catalog.add_media_roots(named, origin="option")
    record = begin_import(
        catalog,
        fmt=fmt,
        files=[str(p.resolve()) for p in given],
        options={k: v for k, v in (options or {}).items() if k not in _UNRECORDED_OPTIONS},
        media_roots=sorted({str(Path(p).resolve()) for p in [*folders, *named]}),
        actor=actor or default_actor(),
    )
    run = ImportRun(catalog, record, MediaRootCheck(catalog.media_roots()))
    token = _current.set(run)
    try:
        with catalog.import_memory():  # the record's recount at the end included
            yield from _closing(run)
    finally:
        _current.reset(token)


def _closing(run: ImportRun) -> Iterator[ImportRun]:
    """Yield the run, then close its record as the block ended."""
    try:
        yield run
    except Exception as exc:
        if (pressed := interrupts.ctrl_c(exc)) is not None:
            # DuckDB stops a statement on Ctrl-C and raises its own error in its place.
            with suppress(Exception):
                _end(run, INTERRUPTED, error="interrupted")
            raise pressed from exc
        with suppress(Exception):  # the import's own error matters more than its record's
            _end(run, FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        with suppress(Exception):
            _end(run, INTERRUPTED, error="interrupted")
        raise
    else:
        _end(run, FINISHED)


def _end(run: ImportRun, status: str, error: str | None = None) -> None:
    report = run.report
    if report is None:
        end_import(run.catalog, run.record.id, status, error=error)
        return
    errors = [str(e) for e in report.errors[:MAX_RECORDED_ERRORS]]
    counts = counts_of(report, run.batches)
    end_import(run.catalog, run.record.id, status, counts=counts, errors=errors, error=error)


def recorded(fmt: str, *, roots: RootsOf | None = None) -> Callable[..., ImportFunction]:
    """Wrap an importer's `import_files(catalog, paths, **options)` (see the module doc).

    `roots(catalog, options)` names more folders the import declares (see option_folders).
    """

    def decorate(fn: Callable[..., IngestReport]) -> ImportFunction:
        @functools.wraps(fn)
        def run(
            catalog: Catalog,
            paths: Any,
            *,
            media_roots: Iterable[PathArg] | None = None,
            actor: str | None = None,
            **options: Any,
        ) -> IngestReport:
            if options.get("field") is not None:  # every ROI would be refused, or stored badly
                try:
                    check_text(options["field"], "field", f"{fmt} import")
                except RecordError as exc:
                    raise IngestError(str(exc)) from None
            given = given_paths(paths)
            if current_run() is not None:  # an import inside another: the outer one records
                return fn(catalog, given, **options)
            extra = list(roots(catalog, options)) if roots is not None else []
            with recorded_import(
                catalog,
                fmt,
                given,
                options=options,
                media_roots=list(media_roots or ()),
                extra_roots=extra,
                actor=actor,
            ) as current:
                current.report = fn(catalog, given, **options)
            return current.report

        run.__signature__ = _with_wrapper_options(inspect.signature(fn))  # type: ignore[attr-defined]
        return run

    return decorate


def _with_wrapper_options(signature: inspect.Signature) -> inspect.Signature:
    """The importer's signature plus the wrapper's `media_roots` and `actor`, for help()."""
    params = list(signature.parameters.values())
    extra = [
        inspect.Parameter("media_roots", inspect.Parameter.KEYWORD_ONLY, default=None),
        inspect.Parameter("actor", inspect.Parameter.KEYWORD_ONLY, default=None),
    ]
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    return signature.replace(parameters=[*params[:at], *extra, *params[at:]])
