"""The Nucleus conversion's statements and the reading's scans, each way tried, on the bench file.

    python bench/nucleus_convert_bench.py                       # 100 scenes x 1,000 frames, 7 runs
    python bench/nucleus_convert_bench.py --scenes 4 --runs 1   # a quick check

The import reads its NDJSON lines in batches (`_columnar.ndjson_batches`: split, then one RE2
scan of its mark and the bracket pattern, the mark again and `SHALLOW` over the lines with more
than 64 brackets: every line of a scene of 1,000 items) and converts each batch in the engine:
`SCENES` (one parse of each line, the scene's checks, the duplicate-key check), the scenes' tails
made in Python, `ITEMS` (the items unnested, checked, their metadata text), `GOOD` (the scenes
all of whose items pass) and `ROWS` (fetched as Arrow). Timed beside it, alternately, in one
engine of one thread as the import's:

- `one statement`: the parse, the scenes' checks and the items' unnest in one statement (no
  `_nu_s` table holding the scenes' item lists), the tails made by SQL where it can vouch that
  they are what Python makes (an integer frame rate of at most 6 digits; scene metadata absent,
  empty, or a flat object of plain strings and integers on a plain line); GOOD and ROWS as the
  import's. Its rows are checked equal to the import's.
- `items fetched`: SCENES and the tails as the import's, then the items' query fetched as Arrow
  at once (no `_nu_i` table), the per-scene checks of GOOD made by numpy over each line's rows
  and the ids' distinctness over the batch (the import checks it again when placing). Its rows
  are checked equal to the import's.

And each of the import's statements alone, SCENES without the duplicate-key check, that check
alone, `json_keys` alone and the parse alone; the reading whole and its scans' patterns over the
file's lines. CPU is the process's (`time.process_time`, every thread); medians and minimums of
`--runs`, with the load average.

With `--imports N`, the file is also imported N times in this process, each into a new
catalog (update=True, as the formats bench imports it), and the process CPU of the import
and of the steps it passes through is printed (each wrapped, `step_cpu.timed`): the reading's
batches (`_batch`: the scans) and split, the conversion, the lines' digests and their record
(`record_scenes`), placing (`_good`), the writer's `write_rows` and the groups' recount.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from formats_bench import write_nucleus
from step_cpu import SPENT, load, timed

import workbench
from workbench.ingest import _columnar, _nucleus_columnar, importer
from workbench.ingest import _nucleus_convert as convert
from workbench.ingest import _nucleus_sql as sql
from workbench.ingest._columnar import PER_RECORD_PATTERN, MemoryEngine, ndjson_batches
from workbench.ingest._nucleus_columnar import BYTES_PER_BATCH, LINES_PER_BATCH
from workbench.ingest.writer import CatalogWriter
from workbench.model.limits import MAX_JSON_FIELD_BYTES
from workbench.store import groups, line_digests


def _replaced(text: str, old: str, new: str) -> str:
    """`text` with its one `old` replaced (the bench stops when the import's SQL changed)."""
    if text.count(old) != 1:
        raise SystemExit(f"the import's SQL no longer holds {old!r}: update the bench")
    return text.replace(old, new)


_PLAIN = "NOT contains(j, '\\') AND NOT contains(j, chr(127)) AND strlen(j) = length(j)"
# A scene's metadata whose text the engine and orjson write alike: a flat object of strings
# without a backslash or a quote and of integers of at most 15 digits.
_FLAT = r'\{("[^"\\]*":("[^"\\]*"|-?[0-9]{1,15}),)*"[^"\\]*":("[^"\\]*"|-?[0-9]{1,15})\}'
# The tail of each item's metadata text (`"scene":...,"fps":...}`), made by SQL where it can
# vouch for it (an integer rate's float is written `<rate>.0` by orjson), else NULL.
_TAIL = (
    "CASE WHEN regexp_full_match(d.frame_rate, '[1-9][0-9]{0,5}') AND (d.metadata IS NULL"
    f" OR d.metadata = '{{}}' OR ({_PLAIN} AND regexp_full_match(d.metadata, '{_FLAT}'))) THEN"
    " CASE WHEN d.metadata IS NULL OR d.metadata = '{}' THEN '' ELSE '\"scene\":' || d.metadata"
    " || ',' END || '\"fps\":' || d.frame_rate || '.0}' END AS tail,"
    " TRY_CAST(d.frame_rate AS DOUBLE) AS rate_value, "
)


_PARSE = f"try(from_json(j, '{sql._SCENE}'))"
# The items' metadata texts of a parsed line as one JSON array (a check of their keys alone:
# the scene's own metadata is read by orjson, as the per-record path reads it).
_METADATA = "'[' || array_to_string(list_transform(d.frames, lambda it: it.metadata), ',') || ']'"
# The keys the SQL reads at the scene's and the items' level: on a line without a backslash,
# as many of them as the parse found would vouch that none is given twice.
_READ_KEYS = '"(?:reference_id|frame_rate|metadata|frames|image_location)"'


# SCENES as it was before the strict parse: every line parsed by `from_json` and every
# object of it checked for a key given twice (`nu_keys_unique`).
WHOLE_CHECK = f"""
CREATE OR REPLACE TEMP TABLE _nu_s AS
WITH parsed AS (
    SELECT n, j, try(from_json(j, '{sql._SCENE}')) AS d FROM _wb_lines
    WHERE NOT marked AND left(ltrim(j), 1) = '{{')
SELECT n, d.reference_id->>'$' AS context_id, d.frame_rate AS rate,
    d.metadata AS scene_meta, d.frames AS frames,
    {_PLAIN} AS plain,
    CASE WHEN d IS NULL THEN false ELSE nu_str(d.reference_id)
        AND nu_id_ok(d.reference_id->>'$', false)
        AND d.video_location IS NULL AND d.video_url IS NULL
        AND len(d.frames) > 0 AND nu_num(d.frame_rate) AND nu_obj(d.metadata)
        AND nu_keys_unique(j) END AS ok
FROM parsed
"""


def one_statement() -> str:
    """SCENES (as WHOLE_CHECK) and ITEMS as one statement: `_nu_i` made from the lines
    (scenes whose tails SQL cannot vouch for are left out)."""
    scenes = WHOLE_CHECK.split(" AS\nWITH parsed AS ", 1)[1]
    parsed, select = scenes.split("\nSELECT n, d.reference_id", 1)
    select = "SELECT n, " + _TAIL + "d.reference_id" + select
    items = sql.ITEMS.split(" AS\nWITH items AS ", 1)[1]
    items = _replaced(items, "t.rate, t.tail", "s.rate_value AS rate, s.tail")
    items = _replaced(
        items,
        "FROM _nu_s s JOIN _nu_tails t ON t.n = s.n WHERE s.ok",
        "FROM _s s WHERE s.ok AND s.tail IS NOT NULL",
    )
    return (
        f"CREATE OR REPLACE TEMP TABLE _nu_i AS WITH parsed AS {parsed}, _s AS ({select}),"
        f" items AS {items}"
    )


def _items_fetched() -> str:
    """The items' query with the scene's checks of GOOD as columns, fetched at once."""
    items = sql.ITEMS.split(" AS\n", 1)[1]
    columns = sql.ROWS.split("SELECT ", 1)[1].split("\nFROM", 1)[0]
    return (
        f"WITH i AS ({items}) SELECT {columns}, i.ok AND NOT coalesce(i.ext IN"
        f" (SELECT ext FROM _nu_odd_ext), false) AND strlen(i.metadata) <="
        f" {MAX_JSON_FIELD_BYTES - 4096} AS _ok FROM i LEFT JOIN _nu_types t ON t.ext = i.ext"
    )


class Forms:
    """Each way of converting one batch of lines, on the import's kind of engine."""

    def __init__(self) -> None:
        self.engine = MemoryEngine(sql.MACROS, threads=1)
        self.con = self.engine.con
        types, odd = convert.content_types()
        self.con.register("_nu_types", types)
        self.con.register("_nu_odd_ext", odd)
        self.merged = one_statement()
        self.fetched = _items_fetched()

    def _tails(self) -> None:
        rows = self.con.execute("SELECT n, rate, scene_meta FROM _nu_s WHERE ok").fetchall()
        self.con.register("_nu_tails", convert._tails(rows))

    def the_import(self) -> pa.Table:
        return convert.convert(self.con)[0]

    def whole_check(self) -> pa.Table:
        """The import's conversion with SCENES as it was (WHOLE_CHECK)."""
        self.con.execute(WHOLE_CHECK)
        self._tails()
        self.con.execute(sql.ITEMS)
        self.con.unregister("_nu_tails")
        self.con.execute(sql.GOOD)
        return convert.in_order(self.con.sql(sql.ROWS).to_arrow_table())

    def one_statement(self) -> pa.Table:
        self.con.execute(self.merged)
        self.con.execute(sql.GOOD)
        return convert.in_order(self.con.sql(sql.ROWS).to_arrow_table())

    def items_fetched(self) -> pa.Table:
        self.con.execute(sql.SCENES)
        self._tails()
        rows = convert.in_order(self.con.sql(self.fetched).to_arrow_table())
        self.con.unregister("_nu_tails")
        lines = rows["_line"].to_numpy()
        if not len(lines):
            return rows.drop_columns(["_ok"])
        _, starts = np.unique(lines, return_index=True)
        ok = rows["_ok"].fill_null(False).to_numpy(zero_copy_only=False)
        good = np.logical_and.reduceat(ok, starts)
        if pc.count_distinct(rows["id"]).as_py() < rows.num_rows:
            raise SystemExit("an id given twice: the bench's forms take distinct ids only")
        keep = np.repeat(good, np.diff(np.append(starts, len(lines))))
        return rows.filter(pa.array(keep)).drop_columns(["_ok"])

    def statement(self, text: str) -> Callable[[], None]:
        def run() -> None:
            self.con.execute(text)

        return run

    def tails(self) -> None:
        self._tails()
        self.con.unregister("_nu_tails")

    def items(self) -> None:
        self._tails()
        self.con.execute(sql.ITEMS)
        self.con.unregister("_nu_tails")


def _statements(forms: Forms) -> dict[str, Callable[[], object]]:
    """Each statement of the import alone and its parts (run in this order on each batch)."""
    nodup = _replaced(WHOLE_CHECK, "AND nu_keys_unique(j)", "")
    lines = "FROM _wb_lines"
    alone = "CREATE OR REPLACE TEMP TABLE _wb_alone AS SELECT n, {} " + lines
    return {
        "the parse alone (from_json of the line)": forms.statement(
            alone.format(f"try(from_json(j, '{sql._SCENE}')) AS d")
        ),
        "json_keys of every value alone": forms.statement(
            alone.format("json_keys('[' || j || ']', '$..*') AS k")
        ),
        "the duplicate-key check alone": forms.statement(alone.format("nu_keys_unique(j) AS u")),
        "the parse, then json_keys of its items' metadata texts joined": forms.statement(
            alone.format(
                f"NOT nu_dups(list_distinct(json_keys({_METADATA}, '$..*'))) AS u"
            ).replace(" FROM _wb_lines", f" FROM (SELECT n, {_PARSE} AS d FROM _wb_lines)")
        ),
        "the keys SQL reads counted in the line (one RE2 pass)": forms.statement(
            alone.format(f"len(regexp_extract_all(j, '{_READ_KEYS}')) AS c")
        ),
        "the strict parse alone (from_json_strict of the line)": forms.statement(
            alone.format(f"try(from_json_strict(j, '{sql._STRICT}')) AS d")
        ),
        "SCENES as before, without the duplicate-key check": forms.statement(nodup),
        "SCENES as before (every line parsed and checked whole)": forms.statement(WHOLE_CHECK),
        "SCENES (the strict parse; the rest as before)": forms.statement(sql.SCENES),
        "SCENES_WHOLE (after a batch the strict parse mostly refused)": forms.statement(
            sql.SCENES_WHOLE
        ),
        "the tails (Python)": forms.tails,
        "ITEMS": forms.items,
        "GOOD": forms.statement(sql.GOOD),
        "ROWS (fetched)": lambda: forms.con.sql(sql.ROWS).to_arrow_table(),
    }


def _timed(runs: int, named: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """CPU seconds of each of `named` over a pass of every batch, `runs` times, in
    alternating order (forward, then backward)."""
    spent: dict[str, list[float]] = {name: [] for name in named}
    order = list(named)
    for run in range(runs):
        for name in order if run % 2 == 0 else order[::-1]:
            total = 0.0
            for lines in _BATCHES:
                _CON[0].register("_wb_lines", lines)
                started = time.process_time()
                named[name]()
                total += time.process_time() - started
            spent[name].append(total)
    return spent


def _in_order(runs: int, named: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """CPU seconds of each of `named` over every batch, run in their order on each batch
    (each reads the tables the ones before it made), `runs` times."""
    spent: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(runs):
        total = dict.fromkeys(named, 0.0)
        for lines in _BATCHES:
            _CON[0].register("_wb_lines", lines)
            for name, step in named.items():
                started = time.process_time()
                step()
                total[name] += time.process_time() - started
        for name, seconds in total.items():
            spent[name].append(seconds)
    return spent


_BATCHES: list[pa.Table] = []
_CON: list[duckdb.DuckDBPyConnection] = []


def _print(title: str, spent: dict[str, list[float]]) -> None:
    print(f"\n{title} (load {load()})")
    for name, seconds in spent.items():
        print(
            f"  {name:<62} CPU median {statistics.median(seconds):.4f} s,"
            f" min {min(seconds):.4f} s ({len(seconds)} runs)"
        )


def _reading(path: Path, runs: int) -> dict[str, list[float]]:
    """The reading whole, and its patterns over the file's lines."""
    text = pa.chunked_array(
        [b.lines["j"].combine_chunks() for b in ndjson_batches(path, 10**9)], pa.string()
    )
    mark = PER_RECORD_PATTERN
    named: dict[str, Callable[[], object]] = {
        "the reading whole (ndjson_batches, as the import's)": lambda: list(
            ndjson_batches(path, LINES_PER_BATCH, mark, BYTES_PER_BATCH)
        ),
        "the mark and the bracket pattern in one scan": lambda: pc.match_substring_regex(
            text, f"{mark}|{_columnar.MANY_BRACKETS}"
        ),
        "the mark alone": lambda: pc.match_substring_regex(text, mark),
        "SHALLOW": lambda: pc.match_substring_regex(text, _columnar.SHALLOW),
        "brackets counted by numpy": lambda: _columnar.many_brackets(text),
    }
    spent: dict[str, list[float]] = {name: [] for name in named}
    order = list(named)
    for run in range(runs):
        for name in order if run % 2 == 0 else order[::-1]:
            started = time.process_time()
            named[name]()
            spent[name].append(time.process_time() - started)
    return spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--file", type=Path, help="the NDJSON file (written when missing)")
    parser.add_argument("--imports", type=int, default=0, help="imports in process, timed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nucleus-convert-") as scratch:
        _run(args, Path(scratch))


def _run(args: argparse.Namespace, folder: Path) -> None:
    """The bench in `folder`, removed after it: the file (unless given) and the catalogs."""
    path = args.file or folder / "nucleus.ndjson"
    if not path.exists():
        write_nucleus(path, args.scenes)
    batches = list(ndjson_batches(path, LINES_PER_BATCH, PER_RECORD_PATTERN, BYTES_PER_BATCH))
    _BATCHES[:] = [b.lines for b in batches]
    lines = sum(b.num_rows for b in _BATCHES)
    print(
        f"{path}: {path.stat().st_size / 1e6:.1f} MB, {lines:,} scene lines in"
        f" {len(_BATCHES)} batches (load {load()})"
    )
    forms = Forms()
    _CON[:] = [forms.con]
    made: dict[str, list[pa.Table]] = {"import": [], "whole": [], "one": [], "fetched": []}
    for lines_table in _BATCHES:
        forms.con.register("_wb_lines", lines_table)
        made["import"].append(forms.the_import())
        made["whole"].append(forms.whole_check())
        made["one"].append(forms.one_statement())
        made["fetched"].append(forms.items_fetched())
    rows = sum(t.num_rows for t in made["import"])
    compared = (
        ("whole", "SCENES as before"),
        ("one", "one statement"),
        ("fetched", "items fetched"),
    )
    for form, label in compared:
        differ = sum(
            0 if a.equals(b) else 1 for a, b in zip(made["import"], made[form], strict=True)
        )
        print(f"{label}: {differ} of {len(_BATCHES)} batches' rows differ from the import's")
        if differ:
            raise SystemExit(f"the {label} form made other rows than the import's")
    print(f"the import's rows: {rows:,}")
    conversions: dict[str, Callable[[], object]] = {
        "the import's (SCENES, tails, ITEMS, GOOD, ROWS)": forms.the_import,
        "the import's with SCENES as before (every line checked whole)": forms.whole_check,
        "one statement (tails by SQL), GOOD, ROWS": forms.one_statement,
        "SCENES, tails, items fetched (checks by numpy)": forms.items_fetched,
    }
    _print("the conversion, each form", _timed(args.runs, conversions))
    _print("the import's statements and their parts", _in_order(args.runs, _statements(forms)))
    _print("the reading", _reading(path, args.runs))
    forms.engine.close()
    if args.imports:
        _imports(path, folder, args.imports)


_STEPS = [
    (_columnar, "_batch", "the reading's batches (_batch: the scans)"),
    (_columnar, "_split", "the reading's split (_split)"),
    (_nucleus_columnar, "convert", "the conversion (convert)"),
    (_nucleus_columnar, "others", "the lines left to the per-record path (others)"),
    (line_digests, "hash_lines", "the lines' digests (hash_lines)"),
    (line_digests, "record_scenes", "the digests' record (record_scenes)"),
    (_nucleus_columnar.ColumnarScenes, "_good", "placing (_good, _place_whole)"),
    (CatalogWriter, "write_rows", "the writer (write_rows: INSERTs, COMMIT, record_scenes)"),
    (groups, "build", "the groups' recount (groups.build)"),
]


def _imports(path: Path, folder: Path, count: int) -> None:
    """The file imported `count` times in this process, each into a new catalog: the CPU of
    the import whole and of each step of `_STEPS`."""
    for owner, name, label in _STEPS:
        timed(owner, name, label)
    print(f"\nthe import in process, {count} times (load {load()})")
    for number in range(count):
        SPENT.clear()
        db = folder / f"import{number}.duckdb"
        started = time.process_time()
        with workbench.open(db) as catalog:
            report = importer("nucleus")(catalog, [path], progress=False, update=True)
        spent = time.process_time() - started
        if not report.ok:
            raise SystemExit(f"the import refused records: {report}")
        parts = ", ".join(f"{label} {SPENT.get(label, 0.0):.3f}" for _, _, label in _STEPS)
        print(
            f"  import {number + 1}: CPU {spent:.3f} s (open and close included; load {load()}): {parts}"
        )


if __name__ == "__main__":
    main()
