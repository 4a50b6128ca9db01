"""Where an import's storing step spends its CPU: the formats bench's files imported in-process.

    python bench/store_bench.py                        # ClearML 1x, Labelbox 1x (import, update)
    python bench/store_bench.py --only labelbox --rounds 3 --statements

Generates the ClearML and Labelbox files of bench/formats_bench.py (the same sizes: 200,000
frames with 800,000 ROIs; 800 label lines onto 60,000 frames imported first) and imports
each in this process, into a fresh catalog, then again (the update path). Prints the process
CPU of the whole import and of each storing function it passes through, timed by wrapping
it (`time.process_time`, every thread): `insert_keyed` (new frames, sources and ROIs keyed
and summarised as inserted), `append_rows` and `keyed_rois` (a label write), `layout.sync`
and `summaries.keep` (every commit). With --statements, the CPU of each SQL statement they
run. Run it with PYTHONPATH set to each checkout to compare, alternating, at the same load:
the load average is printed with every round.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import formats_bench

CPU: collections.Counter[str] = collections.Counter()


class _Timed:
    """A connection whose statements are timed (the rest passed through)."""

    def __init__(self, con: Any, tag: str) -> None:
        self._con, self._tag = con, tag

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            CPU[f"  {self._tag}: {re.sub(r'\s+', ' ', sql)[:90]}"] += time.process_time() - started


def _wrap(module: Any, name: str, statements: bool) -> None:
    inner: Callable[..., Any] = getattr(module, name)

    def timed(con: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            given = _Timed(con, name) if statements and not isinstance(con, _Timed) else con
            return inner(given, *args, **kwargs)
        finally:
            CPU[name] += time.process_time() - started

    setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("clearml", "labelbox"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--statements", action="store_true", help="CPU of each SQL statement")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    import workbench
    import workbench.ingest.clearml
    import workbench.ingest.labelbox
    from workbench.ingest import importer, writer
    from workbench.store import layout, summaries

    for module, name in ((writer, "insert_keyed"), (writer, "keyed_rois"),
                         (writer, "append_rows"), (layout, "sync"), (summaries, "keep")):  # fmt: skip
        _wrap(module, name, args.statements)
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        folder = Path(tmp)
        files = {"clearml": folder / "clearml.ndjson", "labelbox": folder / "labelbox.ndjson"}
        formats_bench.write_clearml(files["clearml"], formats_bench.FULL["clearml"])
        videos = folder / "videos.ndjson"
        formats_bench.write_labelbox_videos(videos, formats_bench.FULL["labelbox"])
        formats_bench.write_labelbox(files["labelbox"], formats_bench.FULL["labelbox"])
        setup = folder / "videos.duckdb"
        with workbench.open(setup) as catalog:
            importer("clearml")(catalog, [videos], progress=False)
        for round_no in range(args.rounds):
            for fmt in args.only or ("clearml", "labelbox"):
                db = folder / f"{fmt}.duckdb"
                for path in (db, db.with_name(db.name + ".wal")):
                    path.unlink(missing_ok=True)
                if fmt == "labelbox":
                    shutil.copy(setup, db)
                for step in ("import", "update"):
                    CPU.clear()
                    load = os.getloadavg()[0]
                    started = time.process_time()
                    with workbench.open(db) as catalog:
                        report = importer(fmt)(catalog, [files[fmt]], progress=False)
                    total = time.process_time() - started
                    assert report.ok, report
                    print(
                        f"{fmt} {step} (round {round_no + 1}, load {load:.1f}): CPU {total:.2f} s"
                    )
                    for name, seconds in sorted(CPU.items(), key=lambda item: -item[1]):
                        if seconds >= 0.005:
                            print(f"  {seconds:7.3f} s  {name}")
                    sys.stdout.flush()


if __name__ == "__main__":
    main()
