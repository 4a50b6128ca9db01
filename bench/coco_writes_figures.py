"""What each figure of bench/coco_writes_bench.py is, and each update set against its import.

The glossary is the bench's `--help` epilog and the one place the figures are named: a
figure the bench adds to its JSON without a line here fails its test, so that a reader of
docs/scale.md or docs/benchmarks.md can look every figure up.
"""

from __future__ import annotations

import textwrap
from statistics import median
from typing import Any

# One row a write (printed as a JSON line while the import runs, and under "writes").
WRITE_FIGURES = {
    "write": "the write's number in this import, from 0",
    "kind": '"write": images converted and stored; "share": a share of the images an update '
    "found unchanged, only counted (their frames' records checked), a row each after the "
    "writes",
    "cpu_s": "the process's CPU seconds (user + system, the engine's threads included)",
    "store_cpu_s": "of cpu_s, the catalog writer's (write_rows)",
    "store_read_mb": "MB the process read during write_rows (rchar: the page cache included)",
    "wall_s": "wall seconds",
    "read_mb": "MB the process read during the write (rchar: mostly the engine's spilled "
    "blocks, from the page cache)",
    "hwm_mb": "VmHWM after it: the peak RSS of this import so far (set back as each begins)",
    "rss_mb": "RSS after it",
    "engine_mb": "[held, spilled] MB of the import's engine (DuckDB's duckdb_memory())",
    "catalog_mb": "[held, spilled] MB of the catalog's DuckDB",
}

# One result an import (the summary line, and a JSON object each in --json's list).
RUN_FIGURES = {
    "images": "the file's images (--images)",
    "run": '"import" (into a new catalog), "update" (the same file again, every image '
    'found unchanged) or "changed" (a copy with every Nth image changed, imported again)',
    "load": "the 1-minute load average [as the import began, as it ended]",
    "frames": "frames in the import's report",
    "rois": "ROIs in the import's report",
    "unchanged": "images the update found unchanged by their digests (0 in a first import)",
    "writes": "the per-write rows above",
    "steps": "CPU seconds of the staging's steps: members (the byte scan that cuts the file), "
    "_read (the categories and the images' texts), _images (the images' statement), "
    "_annotations (the annotations' step), pieces (the pieces' parse, summed), conversion "
    "(the annotations' batches converted, summed), digests_before (the digests' pass "
    "before the images' statement: in an update the hashing and the lookup)",
    "cpu_s": "the whole import's CPU seconds (process: the engine's threads included)",
    "wall_s": "the whole import's wall seconds",
    "hwm_mb": "VmHWM at the end: this import's peak RSS (each import resets the kernel's "
    "mark, which time -v's maximum reads too: that is then the last import's, not the run's)",
    "peak_spill_mb": "the most disk the import's temporary folder held (the engine's spill, "
    "the writes' annotation files and the digests' sums; blocks allocated, as du counts) "
    "seen at a progress line: sampled, so --sample makes it closer to the true peak",
    "peak_sums_mb": "of peak_spill_mb's folder, the most the digests' sums held (their "
    "arrays' folder, sparse files: blocks allocated), sampled alike (not at the same line)",
    "catalog_disk_mb": "the catalog's folder on disk at the end",
    "statements": "the CPU seconds and runs per statement of the import's engine and, after "
    "`catalog: `, of the catalog's cursors (--statements; else empty)",
    "engines": "per engine (`import`, `catalog`) its statements' runs and CPU seconds summed",
    "caller_cpu_s": "of cpu_s, the importing thread's own (time.thread_time)",
    "writes_thread_cpu_s": "of cpu_s, the writes' threads' own (the writes stored beside the "
    "next write's making; 0 with --sequential)",
    "writes_cpu_s": "the writes' CPU seconds: {first, min, median, max, last} (rows of kind "
    '"write"; an update of an unchanged file has none)',
    "shares_cpu_s": "the same for the shares of unchanged images",
    "against_import": "an update's figures over the first import's in the same run: "
    "{cpu_s, wall_s, hwm_mb, peak_spill_mb, peak_sums_mb} (absent for the import itself)",
    "changed_annotations": "--changed: the annotations changed in the copy",
    "changed_images": "--changed: the images they belong to",
    "change_wall_s": "--changed: the wall seconds of the change in place",
}

PROGRESS = (
    "A progress line (at each step's end, and every --sample seconds): [wall s, CPU s since "
    "the import began] the step: VmHWM, RSS, read (rchar since the process began), spill "
    "(the disk the import's temporary folder holds now, of it the sums'), load (1 minute)."
)

COMPARED = ("cpu_s", "wall_s", "hwm_mb", "peak_spill_mb", "peak_sums_mb")


def epilog() -> str:
    """The figures, for --help (printed as written: RawDescriptionHelpFormatter)."""
    lines = ["figures, per write (JSON lines as it runs; --json: each run's 'writes'):"]
    lines += [_entry(name, text) for name, text in WRITE_FIGURES.items()]
    lines += ["", "figures, per import (its summary line; --json: a list, one object each):"]
    lines += [_entry(name, text) for name, text in RUN_FIGURES.items()]
    return "\n".join([*lines, "", textwrap.fill(PROGRESS, 92)])


def _entry(name: str, text: str) -> str:
    """One figure's name and what it is, the text wrapped beside the names."""
    return textwrap.fill(text, 92, initial_indent=f"  {name:20}", subsequent_indent=" " * 22)


def spread(values: list[float]) -> dict[str, float] | None:
    """The first, least, median, largest and last of `values` (None if there are none)."""
    if not values:
        return None
    return {
        "first": values[0],
        "min": min(values),
        "median": round(median(values), 2),
        "max": max(values),
        "last": values[-1],
    }


def spreads(done: dict[str, Any]) -> dict[str, Any]:
    """An import's writes' and shares' CPU spread (`writes_cpu_s`, `shares_cpu_s`)."""
    rows = done["writes"]
    return {
        f"{kind}s_cpu_s": spread([r["cpu_s"] for r in rows if r["kind"] == kind])
        for kind in ("write", "share")
    }


def against(first: dict[str, Any], later: dict[str, Any]) -> dict[str, float | None]:
    """`later`'s figures over `first`'s (None where the first is 0)."""
    return {name: round(later[name] / first[name], 3) if first[name] else None for name in COMPARED}


def told_against(what: str, ratios: dict[str, float | None]) -> str:
    """One line: an update's figures as multiples of the import's."""
    shown = ", ".join(
        f"{name} {'-' if ratio is None else f'{ratio:.2f}x'}" for name, ratio in ratios.items()
    )
    return f"  {what} against the import: {shown}"
