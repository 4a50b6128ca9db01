"""`workbench lake init|attach|ingest|qa|evaluate|embed|compact|vacuum|accept`: the
catalog's big tables kept in a lake, and the jobs run over it (docs/scale-out.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.catalog import Catalog
from workbench.cli._args import EXIT_REJECTED, catalog_path, open_catalog
from workbench.errors import WorkbenchError
from workbench.ingest import FORMATS


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """`workbench lake init|attach|ingest|qa|evaluate|embed|compact|vacuum|accept`
    (docs/scale-out.md)."""
    lake = sub.add_parser("lake", parents=[common], help="keep frames, sources, ROIs in a lake")
    verbs = lake.add_subparsers(dest="verb", metavar="VERB", required=True)
    init = verbs.add_parser("init", parents=[common], help="move the catalog's tables to a lake")
    init.add_argument("uri", help="a folder or s3://bucket/prefix")
    init.add_argument("--buckets", type=int, default=8, help="context partitions (default 8)")
    _format_options(init)
    init.set_defaults(run=_lake_init, attach=False)
    attach = verbs.add_parser("attach", parents=[common], help="read an existing lake's tables")
    attach.add_argument("uri")
    _format_options(attach)
    attach.set_defaults(run=_lake_init, attach=True, buckets=8)
    ingest = verbs.add_parser("ingest", parents=[common], help="import files with a job")
    ingest.add_argument("format", choices=sorted(FORMATS))
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--engine", choices=("local", "daft", "spark"), default=None)
    ingest.add_argument("--workers", type=int, default=None)
    ingest.add_argument("--files-per-unit", type=int, default=1)
    ingest.set_defaults(run=_lake_ingest)
    qa = verbs.add_parser("qa", parents=[common], help="sequence QA as a job, per bucket")
    qa.add_argument("kinds", nargs="*", help="kinds of issue (default: all but frozen)")
    qa.add_argument("--engine", choices=("local", "daft", "spark"), default=None)
    qa.add_argument("--workers", type=int, default=None)
    _scope_options(qa)
    qa.set_defaults(run=_lake_qa)
    evaluate = verbs.add_parser("evaluate", parents=[common], help="evaluation as a job")
    evaluate.add_argument("pred_field")
    evaluate.add_argument("gt_field", nargs="?", default="ground_truth")
    evaluate.add_argument("--key", default="eval", help="the run's eval_key (default eval)")
    evaluate.add_argument("--method", choices=("coco", "simple"), default="coco")
    evaluate.add_argument("--iou", type=float, default=0.5)
    evaluate.add_argument("--masks", action="store_true", help="compare pixel regions")
    evaluate.add_argument("--overwrite", action="store_true", help="replace a run of that key")
    evaluate.add_argument("--engine", choices=("local", "daft", "spark"), default=None)
    evaluate.add_argument("--workers", type=int, default=None)
    _scope_options(evaluate)
    evaluate.set_defaults(run=_lake_evaluate)
    embed = verbs.add_parser("embed", parents=[common], help="compute embeddings as a job")
    embed.add_argument("--key", default="descriptor", help="the embedding key (default descriptor)")
    embed.add_argument("--model", default=None, help="an ONNX file (default: the descriptor)")
    embed.add_argument("--target", choices=("frames", "rois"), default="frames")
    embed.add_argument("--field", default=None, help="the ROIs' field (target rois)")
    embed.add_argument("--source", default=None, help="the frames' source (default: the first)")
    embed.add_argument("--media", choices=("source", "thumbnail"), default="source")
    embed.add_argument("--image-size", type=int, default=256)
    embed.add_argument("--batch-size", type=int, default=64)
    embed.add_argument("--overwrite", action="store_true", help="compute every vector again")
    embed.add_argument("--engine", choices=("local", "daft", "spark"), default=None)
    embed.add_argument("--workers", type=int, default=None)
    _scope_options(embed)
    embed.set_defaults(run=_lake_embed)
    compact = verbs.add_parser("compact", parents=[common], help="rewrite buckets sorted")
    compact.add_argument(
        "--no-promote", action="store_true", help="promote no metadata keys to columns"
    )
    compact.set_defaults(run=_lake_compact)
    vacuum = verbs.add_parser("vacuum", parents=[common], help="remove unreferenced files")
    vacuum.add_argument("--retention-hours", type=int, default=168)
    vacuum.add_argument("--confirm", action="store_true", help="remove (default: list only)")
    vacuum.set_defaults(run=_lake_vacuum)
    accept = verbs.add_parser(
        "accept", parents=[common], help="keep a rolled-back write the lake cannot undo"
    )
    accept.add_argument("--confirm", action="store_true", help="keep it (default: list only)")
    accept.set_defaults(run=_lake_accept)


def _format_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", dest="table_format", choices=("delta", "iceberg"), default="delta"
    )
    parser.add_argument(
        "--iceberg-catalog",
        default=None,
        help="the Iceberg tables' SQL catalog URI (default: sqlite, <catalog>.iceberg.db)",
    )


def _scope_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--view", default=None, help="only the frames of this saved view")
    parser.add_argument("--where", default=None, help="only frames where this SQL holds")


def _job_view(catalog: Catalog, args: argparse.Namespace) -> Any:
    """The view a job is restricted to (`--view NAME`, `--where SQL`), or None."""
    from workbench.query import load_view

    view = load_view(catalog, args.view) if args.view else None
    if args.where:
        view = (view or catalog.view()).where(args.where)
    return view


def _lake_init(args: argparse.Namespace) -> int:
    from workbench.store.lake_write import open_for_lake

    path = str(catalog_path(args))
    lake = open_for_lake(
        path,
        args.uri,
        attach=args.attach,
        buckets=args.buckets,
        progress=True,
        fmt=args.table_format,
        catalog=args.iceberg_catalog,
    )
    print(f"{path}: frames, sources and rois now read from {lake.root} ({lake.format.kind})")
    return 0


def _lake_ingest(args: argparse.Namespace) -> int:
    from workbench.jobs import EngineConfig, IngestJob, run_ingest

    with _open_lake(args) as catalog:
        assert catalog.lake is not None
        root = catalog.lake.root
        kind = catalog.lake.format.kind
        sql = getattr(catalog.lake.format, "catalog_uri", None)
        catalog.add_media_roots(
            [p if p.is_dir() else p.parent for p in args.paths], origin="import"
        )
    job = IngestJob(
        root,
        args.format,
        tuple(str(p) for p in args.paths),
        files_per_unit=args.files_per_unit,
        table_format=kind,
        iceberg_catalog=sql,
    )
    report = run_ingest(job, EngineConfig.from_env(args.engine, args.workers))
    print(
        f"{report.frames} frames, {report.rois} ROIs in {report.units} units, "
        f"{report.seconds:.1f} s; lake versions {report.versions}"
    )
    print("keying and summarising the new rows in the catalog ...", file=sys.stderr)
    with open_catalog(args):  # opening keys the job's rows (docs/scale-out.md)
        pass
    for error in report.refused[:20]:
        print(f"refused: {error}", file=sys.stderr)
    return EXIT_REJECTED if report.refused else 0


def _lake_qa(args: argparse.Namespace) -> int:
    from workbench.jobs import JOB_KINDS, EngineConfig, run_sequence_qa

    with _open_lake(args) as catalog:
        report = run_sequence_qa(
            catalog,
            tuple(args.kinds) or JOB_KINDS,
            EngineConfig.from_env(args.engine, args.workers),
            view=_job_view(catalog, args),
        )
    print(f"{report.issues} issues in {report.units} buckets, {report.seconds:.1f} s")
    return 0


def _lake_evaluate(args: argparse.Namespace) -> int:
    from workbench.jobs import EngineConfig, run_evaluation

    with _open_lake(args) as catalog:
        results = run_evaluation(
            catalog,
            args.pred_field,
            args.gt_field,
            args.key,
            EngineConfig.from_env(args.engine, args.workers),
            overwrite=args.overwrite,
            method=args.method,
            iou=args.iou,
            use_masks=args.masks,
            view=_job_view(catalog, args),
        )
    print(results.report())
    return 0


def _lake_embed(args: argparse.Namespace) -> int:
    from workbench.jobs import EngineConfig, run_embeddings

    with _open_lake(args) as catalog:
        report = run_embeddings(
            catalog,
            args.key,
            args.model,
            EngineConfig.from_env(args.engine, args.workers),
            target=args.target,
            field=args.field,
            source=args.source,
            media=args.media,
            image_size=args.image_size,
            batch_size=args.batch_size,
            overwrite=args.overwrite,
            view=_job_view(catalog, args),
        )
    print(report)
    return EXIT_REJECTED if report.refused else 0


def _lake_compact(args: argparse.Namespace) -> int:
    from workbench.store import layout
    from workbench.store.lake_compact import compact

    with _open_lake(args) as catalog:
        assert catalog.lake is not None
        before = set(layout.promoted_columns(catalog.cursor()))
        removed = compact(catalog, progress=True, promote=not args.no_promote)
        catalog.refresh_lake()
        promoted = sorted(set(layout.promoted_columns(catalog.cursor())) - before)
    print(f"compacted: {removed}; metadata keys promoted to columns: {promoted or 'none'}")
    return 0


def _lake_vacuum(args: argparse.Namespace) -> int:
    from workbench.store.lake_compact import vacuum

    with _open_lake(args) as catalog:
        assert catalog.lake is not None
        catalog.refresh_lake()
        pinned = {
            str(i.options["lake"]): int(i.options["version"])
            for i in catalog.list_embeddings()
            if i.in_lake
        }
        gone = vacuum(
            catalog.lake,
            retention_hours=args.retention_hours,
            dry_run=not args.confirm,
            pinned=pinned,
        )
    verb = "removed" if args.confirm else "would remove (add --confirm)"
    print(f"{verb}: " + ", ".join(f"{n}: {len(f)} files" for n, f in gone.items()))
    return 0


def _lake_accept(args: argparse.Namespace) -> int:
    from workbench.store.lake_accept import command

    path = catalog_path(args)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such catalog")
    print("\n".join(command(str(path), confirm=args.confirm)))
    return 0


@contextmanager
def _open_lake(args: argparse.Namespace) -> Iterator[Catalog]:
    """The catalog of a `workbench lake` command, which must exist and be lake-backed."""
    path = catalog_path(args)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such catalog")
    with open_catalog(args) as catalog:
        if catalog.lake is None:
            raise WorkbenchError(
                f"{path}: the catalog is not lake-backed: `workbench lake init` or "
                "`workbench lake attach` first"
            )
        yield catalog
