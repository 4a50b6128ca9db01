"""The Nucleus conversion's statements and the reading's scans, each way tried, on the bench file.

    python bench/nucleus_convert_bench.py                       # 100 scenes x 1,000 frames, 7 runs
    python bench/nucleus_convert_bench.py --scenes 4 --runs 1   # a quick check

The import reads its NDJSON lines in batches (`_columnar.ndjson_batches`: split, then one RE2
scan of its mark and the bracket pattern, the mark again and `SHALLOW` over the lines with more
than 64 brackets: every line of a scene of 1,000 items) and converts each batch in the engine:
`SCENES` (one parse of each line, the scene's checks), the scenes' tails made in Python, the
batch's first metadata keys (`KEYS`), then the items' query (`items`: unnested, checked, their
metadata text, whether their metadata keys are vouched for by the batch's key set) fetched as
Arrow, and the scenes' checks made on the fetched rows (`_taken`: every item ok, ids once each,
`METADATA_KEYS` for the scenes some item of which was not vouched for). Timed beside it,
alternately, in one engine of one thread as the import's:

- `as before`: the statements before the items were fetched at once: SCENES checking its items'
  metadata keys (one `json_keys` of their texts joined, every strict line), the items into a
  table `_nu_i`, `GOOD` (the scenes all of whose items pass, grouped in the engine) and `ROWS`
  (the good scenes' items joined back and fetched). Its rows are checked equal to the import's.
- `no key set`: the import's with no batch key set (every strict scene's items' metadata keys
  checked by METADATA_KEYS): what a file whose items' metadata differ in their keys costs.
  Its rows are checked equal to the import's.

And each of the import's statements alone and its parts; the reading whole and its scans'
patterns over the file's lines. CPU is the process's (`time.process_time`, every thread);
medians and minimums of `--runs`, with the load average.

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
from workbench.model.records import PROMOTED_KEYS
from workbench.store import groups, line_digests


def _replaced(text: str, old: str, new: str) -> str:
    """`text` with its one `old` replaced (the bench stops when the import's SQL changed)."""
    if text.count(old) != 1:
        raise SystemExit(f"the import's SQL no longer holds {old!r}: update the bench")
    return text.replace(old, new)


_PARSE = f"try(from_json(j, '{sql._SCENE}'))"
# The items' metadata texts of a parsed line as one JSON array (a check of their keys alone:
# the scene's own metadata is read by orjson, as the per-record path reads it).
_METADATA = "'[' || array_to_string(list_transform(d.frames, lambda it: it.metadata), ',') || ']'"
# The keys the SQL reads at the scene's and the items' level: on a line without a backslash,
# as many of them as the parse found would vouch that none is given twice.
_READ_KEYS = '"(?:reference_id|frame_rate|metadata|frames|image_location)"'

# The statements as they were before the items were fetched at once.
_KEYS_WITH_SCENE = (
    "CASE WHEN strict THEN nu_metadata_keys_unique(d.frames) ELSE nu_keys_unique(j) END"
)
BEFORE_SCENES = _replaced(
    sql.SCENES, "CASE WHEN strict THEN true ELSE nu_keys_unique(j) END", _KEYS_WITH_SCENE
)
BEFORE_ITEMS = "CREATE OR REPLACE TEMP TABLE _nu_i AS " + sql.items(None)
BEFORE_GOOD = f"""
CREATE OR REPLACE TEMP TABLE _nu_good AS
SELECT _line FROM (
    SELECT _line, bool_and(ok AND NOT coalesce(ext IN (SELECT ext FROM _nu_odd_ext), false))
        AND count(DISTINCT id) = count(*)
        AND max(strlen(metadata)) <= {MAX_JSON_FIELD_BYTES - 4096} AS good
    FROM _nu_i GROUP BY _line)
WHERE good
"""
_PROMOTED = ", ".join(f"i.{key}" for key in PROMOTED_KEYS)
BEFORE_ROWS = f"""
SELECT i._line, i.id, i.context_id, i.frame_index, i.num_frames, i.timestamp, i.uri,
    t.type AS content_type, i.metadata, {_PROMOTED}
FROM _nu_i i LEFT JOIN _nu_types t ON t.ext = i.ext
WHERE i._line IN (SELECT _line FROM _nu_good)
"""


class Forms:
    """Each way of converting one batch of lines, on the import's kind of engine."""

    def __init__(self) -> None:
        self.engine = MemoryEngine(sql.MACROS, threads=1)
        self.con = self.engine.con
        self.types = convert.content_types()
        self.con.register("_nu_types", self.types[0])
        self.con.register("_nu_odd_ext", self.types[1])

    def _tails(self) -> None:
        rows = self.con.execute("SELECT n, rate, scene_meta FROM _nu_s WHERE ok").fetchall()
        self.con.register("_nu_tails", convert._tails(rows))

    def the_import(self) -> pa.Table:
        return convert.convert(self.con, None, self.types)[0]

    def before(self) -> pa.Table:
        """The conversion as it was: SCENES checking the items' metadata keys, `_nu_i`,
        GOOD and ROWS."""
        self.con.execute(BEFORE_SCENES)
        self._tails()
        self.con.execute(BEFORE_ITEMS)
        self.con.unregister("_nu_tails")
        self.con.execute(BEFORE_GOOD)
        return convert.in_order(self.con.sql(BEFORE_ROWS).to_arrow_table())

    def no_key_set(self) -> pa.Table:
        """The import's with no batch key set: METADATA_KEYS checks every strict scene."""
        self.con.execute(sql.SCENES)
        self._tails()
        items = self.con.sql(sql.items(None)).to_arrow_table()
        self.con.unregister("_nu_tails")
        return convert._taken(self.con, convert.in_order(items), self.types)[0]

    def statement(self, text: str) -> Callable[[], None]:
        def run() -> None:
            self.con.execute(text)

        return run

    def tails(self) -> None:
        self._tails()
        self.con.unregister("_nu_tails")

    def items(self, keys: bool) -> Callable[[], None]:
        """The items' query fetched (after SCENES), with the batch's key set or none."""

        def run() -> None:
            self._tails()
            found = self.con.execute(sql.KEYS).fetchall() if keys else []
            chosen = sql.usable_keys(found[0][0] if found else None)
            self.fetched = self.con.sql(sql.items(chosen)).to_arrow_table()
            self.con.unregister("_nu_tails")

        return run

    def scenes_checked(self) -> None:
        convert._taken(self.con, convert.in_order(self.fetched), self.types)

    def metadata_keys(self) -> None:
        lines = [n for (n,) in self.con.execute("SELECT n FROM _nu_s WHERE strict").fetchall()]
        self.con.execute(sql.METADATA_KEYS, [lines]).fetchall()


def _statements(forms: Forms) -> dict[str, Callable[[], object]]:
    """Each statement of the import alone and its parts (run in this order on each batch)."""
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
        "SCENES as before (the items' metadata keys checked with it)": forms.statement(
            BEFORE_SCENES
        ),
        "SCENES_WHOLE (after a batch the strict parse mostly refused)": forms.statement(
            sql.SCENES_WHOLE
        ),
        "SCENES (the strict parse; the items' metadata keys left to them)": forms.statement(
            sql.SCENES
        ),
        "the tails (Python)": forms.tails,
        "the items fetched, the batch's key set vouching": forms.items(keys=True),
        "the scenes' checks on the fetched items (_taken)": forms.scenes_checked,
        "the items fetched, no key set": forms.items(keys=False),
        "METADATA_KEYS over every strict scene": forms.metadata_keys,
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
    made: dict[str, list[pa.Table]] = {"import": [], "before": [], "none": []}
    for lines_table in _BATCHES:
        forms.con.register("_wb_lines", lines_table)
        made["import"].append(forms.the_import())
        made["before"].append(forms.before())
        made["none"].append(forms.no_key_set())
    rows = sum(t.num_rows for t in made["import"])
    for form, label in (("before", "as before"), ("none", "no key set")):
        differ = sum(
            0 if a.equals(b) else 1 for a, b in zip(made["import"], made[form], strict=True)
        )
        print(f"{label}: {differ} of {len(_BATCHES)} batches' rows differ from the import's")
        if differ:
            raise SystemExit(f"the {label} form made other rows than the import's")
    print(f"the import's rows: {rows:,}")
    conversions: dict[str, Callable[[], object]] = {
        "the import's (SCENES, tails, KEYS, items fetched, _taken)": forms.the_import,
        "as before (SCENES checking keys, _nu_i, GOOD, ROWS)": forms.before,
        "no key set (METADATA_KEYS for every strict scene)": forms.no_key_set,
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
