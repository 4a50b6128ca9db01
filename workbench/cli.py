"""The `workbench` command line: demo, ingest, export, sql, info, optimize, media-roots,
serve."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from workbench.catalog import Catalog
from workbench.errors import WorkbenchError
from workbench.ingest import FORMATS, exporter, importer
from workbench.store.catalog import default_catalog_path
from workbench.store.imports import get_import, interrupted_imports

EXIT_REJECTED = 1  # some records were refused; the good ones are stored
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(args.run(args))
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`workbench sql ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--catalog",
        type=Path,
        default=argparse.SUPPRESS,
        help="catalog file (default: $WORKBENCH_CATALOG or ./workbench.duckdb)",
    )
    parser = argparse.ArgumentParser(
        prog="workbench", description="Curate computer-vision frame data.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[common], help="build the demo dataset (and serve it)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--force", action="store_true", help="rebuild even if the catalog has frames")
    demo.add_argument("--serve", action="store_true", help="serve the app on the demo catalog")
    _serve_options(demo)
    demo.set_defaults(run=_demo)

    ingest = sub.add_parser("ingest", parents=[common], help="import files into the catalog")
    ingest.add_argument("format", choices=sorted(FORMATS))
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="format option, e.g. -o field=predictions (repeatable)",
    )
    ingest.add_argument(
        "--media-root",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="also serve the files under DIR (repeatable); the folders of PATHS always are",
    )
    ingest.set_defaults(run=_ingest)

    export = sub.add_parser("export", parents=[common], help="export a view of the catalog")
    export.add_argument("format", choices=sorted(FORMATS))
    export.add_argument("dest", type=Path)
    export.add_argument("--where", help="SQL condition over frames (aliased f)")
    export.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata or frame column equals value (repeatable)",
    )
    export.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE")
    export.set_defaults(run=_export)

    sql = sub.add_parser("sql", parents=[common], help="run a read-only SQL query")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--limit", type=int, default=100, help="rows shown by --format table")
    sql.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds the query may run (default $WORKBENCH_SQL_TIME_LIMIT or 30)",
    )
    sql.set_defaults(run=_sql)

    info = sub.add_parser("info", parents=[common], help="summarise the catalog")
    info.add_argument("--json", action="store_true")
    info.set_defaults(run=_info)

    optimize = sub.add_parser(
        "optimize",
        parents=[common],
        help="rewrite the big tables in the order browsing reads them (docs/scale.md)",
    )
    optimize.set_defaults(run=_optimize)

    roots = sub.add_parser(
        "media-roots", parents=[common], help="list, add or remove the folders the app serves"
    )
    roots.add_argument("action", choices=["list", "add", "remove"])
    roots.add_argument("dirs", nargs="*", metavar="DIR", help="a folder or an s3://bucket/prefix/")
    roots.add_argument("--json", action="store_true", help="list as JSON")
    roots.set_defaults(run=_media_roots)

    serve = sub.add_parser("serve", parents=[common], help="serve the workbench app")
    _serve_options(serve)
    serve.set_defaults(run=_serve)
    _lake_parser(sub, common)
    return parser


def _lake_parser(sub: Any, common: argparse.ArgumentParser) -> None:
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

    path = str(_catalog_path(args))
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
    with _open(args):  # opening keys the job's rows (docs/scale-out.md)
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

    path = _catalog_path(args)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such catalog")
    print("\n".join(command(str(path), confirm=args.confirm)))
    return 0


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument(
        "--address", default="127.0.0.1", help="bind address (default loopback only)"
    )
    parser.add_argument("--allow-websocket-origin", action="append", default=None)
    parser.add_argument("--basic-auth", help="password, or a JSON file of user: password")
    parser.add_argument("--cookie-secret")
    parser.add_argument("--oauth-provider")
    parser.add_argument("--oauth-key")
    parser.add_argument("--oauth-secret")
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=8.0,
        help="largest request body the service API answers, in MB (default 8)",
    )


def _catalog_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "catalog", None) or default_catalog_path())


def _open(args: argparse.Namespace, *, read_only: bool = False) -> Catalog:
    return Catalog(_catalog_path(args), read_only=read_only)


@contextmanager
def _open_lake(args: argparse.Namespace) -> Iterator[Catalog]:
    """The catalog of a `workbench lake` command, which must exist and be lake-backed."""
    path = _catalog_path(args)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such catalog")
    with _open(args) as catalog:
        if catalog.lake is None:
            raise WorkbenchError(
                f"{path}: the catalog is not lake-backed: `workbench lake init` or "
                "`workbench lake attach` first"
            )
        yield catalog


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are read as JSON when they parse (numbers, true, lists)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise WorkbenchError(f"option {pair!r} is not KEY=VALUE")
        try:
            options[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = raw
    return options


def _demo(args: argparse.Namespace) -> int:
    from workbench.demo import build_demo, default_media_dir

    with _open(args) as catalog:
        if args.force or not catalog.has_frames():
            print(build_demo(catalog, seed=args.seed))
        elif default_media_dir(catalog.path).is_dir():
            # A demo built by an older workbench: its roots were inferred, so declare it.
            catalog.add_media_roots([default_media_dir(catalog.path)], origin="demo")
        print(_info_text(catalog))
    if args.serve:
        return _serve(args)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    options = parse_options(args.option)
    with _open(args) as catalog:
        report = importer(args.format)(catalog, args.paths, media_roots=args.media_root, **options)
        print(report)
        if report.import_id:
            record = get_import(catalog, report.import_id)
            if record.resumes:
                print(f"  completes the interrupted import {record.resumes[:8]}")
    return 0 if report.ok else EXIT_REJECTED


def _export(args: argparse.Namespace) -> int:
    with _open(args) as catalog:
        view = catalog.view()
        if args.where:
            view = view.where(args.where)
        matches = parse_options(args.match)
        if matches:
            view = view.match(**matches)
        print(exporter(args.format)(view, args.dest, **parse_options(args.option)))
    return 0


def _sql(args: argparse.Namespace) -> int:
    with _open(args, read_only=False) as catalog:
        table = catalog.sql(args.query, time_limit=args.time_limit).to_arrow_table()
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(table.column_names)
        writer.writerows(zip(*(col.to_pylist() for col in table.columns), strict=True))
    elif args.format == "json":
        json.dump(table.to_pylist(), sys.stdout, default=str, indent=1)
        print()
    else:
        print(format_table(table, args.limit))
    return 0


def format_table(table: pa.Table, limit: int) -> str:
    """A plain aligned text table of the first `limit` rows."""
    rows = table.slice(0, limit).to_pylist()
    names = table.column_names
    cells = [[_cell(row[name]) for name in names] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    if table.num_rows > limit:
        lines.append(f"... {table.num_rows - limit} more rows (use --limit or --format csv)")
    lines.append(f"({table.num_rows} rows)")
    return "\n".join(lines)


def _cell(value: Any, width: int = 60) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _info_text(catalog: Catalog) -> str:
    info = catalog.info()
    fields = ", ".join(f"{name}: {count}" for name, count in info.fields.items()) or "none"
    text = (
        f"catalog {info.path} (schema v{info.schema_version}, {info.size_bytes / 1e6:.1f} MB)\n"
        f"  {info.frames} frames in {info.contexts} contexts, {info.sources} sources, "
        f"{info.datasets} datasets\n"
        f"  {info.rois} ROIs ({fields}), {info.labels} distinct labels, {info.scenes} scenes\n"
        f"  media roots: {', '.join(catalog.media_roots()) or 'none'}"
    )
    not_served = [r.path for r in catalog.media_root_entries() if not r.served]
    if not_served:
        text += (
            f"\n  {len(not_served)} media root(s) an older workbench inferred from imported "
            "URIs are not served: review them with `workbench media-roots list`"
        )
    interrupted = interrupted_imports(catalog)
    if interrupted:
        text += f"\n  {len(interrupted)} interrupted import(s); run each again to complete it:"
        text += "".join(f"\n  - {record.describe()}" for record in interrupted)
    return text


def _info(args: argparse.Namespace) -> int:
    with _open(args) as catalog:
        if args.json:
            data = catalog.info().as_dict()
            data["media_roots"] = catalog.media_roots()
            data["interrupted_imports"] = [r.as_dict() for r in interrupted_imports(catalog)]
            print(json.dumps(data, indent=1, default=str))
        else:
            print(_info_text(catalog))
    return 0


def _optimize(args: argparse.Namespace) -> int:
    with _open(args) as catalog:
        started = time.perf_counter()
        print(f"optimizing {catalog.path} ({catalog.info().frames:,} frames) ...", flush=True)
        promoted = catalog.optimize()
        keys = ", ".join(promoted) if promoted else "none"
        print(f"done in {time.perf_counter() - started:.1f} s; metadata keys promoted: {keys}")
    return 0


def _media_roots(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.dirs:
        raise WorkbenchError(f"media-roots {args.action} needs at least one folder")
    with _open(args) as catalog:
        if args.action == "add":
            for path in args.dirs:
                if not path.startswith("s3://") and not Path(path).is_dir():
                    print(f"warning: {path} is not a folder (yet)", file=sys.stderr)
            added = catalog.add_media_roots(args.dirs)
            print(f"{len(added)} media root(s) added" + "".join(f"\n  {r}" for r in added))
        elif args.action == "remove":
            removed = catalog.remove_media_roots(args.dirs)
            print(f"{len(removed)} media root(s) removed" + "".join(f"\n  {r}" for r in removed))
        elif args.json:
            print(json.dumps([e.as_dict() for e in catalog.media_root_entries()], indent=1))
        else:
            for entry in catalog.media_root_entries():
                note = "" if entry.served else "  (inferred by an older workbench: not served)"
                print(f"{entry.path}  [{entry.origin}]{note}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from workbench.ui.server import serve

    serve(
        _catalog_path(args),
        port=args.port,
        address=args.address,
        allow_websocket_origin=args.allow_websocket_origin,
        basic_auth=args.basic_auth,
        cookie_secret=args.cookie_secret,
        oauth_provider=args.oauth_provider,
        oauth_key=args.oauth_key,
        oauth_secret=args.oauth_secret,
        max_body_mb=args.max_body_mb,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
