"""The `workbench` command line: demo, ingest, export, sql, info, optimize, media-roots,
serve, and `lake` (cli/lake.py)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from workbench.catalog import Catalog
from workbench.cli import lake
from workbench.cli._args import EXIT_ERROR, EXIT_REJECTED, catalog_path, open_catalog
from workbench.errors import WorkbenchError
from workbench.ingest import FORMATS, exporter, importer
from workbench.store.imports import get_import, interrupted_imports

__all__ = ["EXIT_ERROR", "EXIT_REJECTED", "format_table", "main", "parse_options"]


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
    lake.add_parser(sub, common)
    return parser


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

    with open_catalog(args) as catalog:
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
    with open_catalog(args) as catalog:
        report = importer(args.format)(catalog, args.paths, media_roots=args.media_root, **options)
        print(report)
        if report.import_id:
            record = get_import(catalog, report.import_id)
            if record.resumes:
                print(f"  completes the interrupted import {record.resumes[:8]}")
    return 0 if report.ok else EXIT_REJECTED


def _export(args: argparse.Namespace) -> int:
    with open_catalog(args) as catalog:
        view = catalog.view()
        if args.where:
            view = view.where(args.where)
        matches = parse_options(args.match)
        if matches:
            view = view.match(**matches)
        print(exporter(args.format)(view, args.dest, **parse_options(args.option)))
    return 0


def _sql(args: argparse.Namespace) -> int:
    with open_catalog(args, read_only=False) as catalog:
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
    with open_catalog(args) as catalog:
        if args.json:
            data = catalog.info().as_dict()
            data["media_roots"] = catalog.media_roots()
            data["interrupted_imports"] = [r.as_dict() for r in interrupted_imports(catalog)]
            print(json.dumps(data, indent=1, default=str))
        else:
            print(_info_text(catalog))
    return 0


def _optimize(args: argparse.Namespace) -> int:
    with open_catalog(args) as catalog:
        started = time.perf_counter()
        print(f"optimizing {catalog.path} ({catalog.info().frames:,} frames) ...", flush=True)
        promoted = catalog.optimize()
        keys = ", ".join(promoted) if promoted else "none"
        print(f"done in {time.perf_counter() - started:.1f} s; metadata keys promoted: {keys}")
    return 0


def _media_roots(args: argparse.Namespace) -> int:
    if args.action != "list" and not args.dirs:
        raise WorkbenchError(f"media-roots {args.action} needs at least one folder")
    with open_catalog(args) as catalog:
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
        catalog_path(args),
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
