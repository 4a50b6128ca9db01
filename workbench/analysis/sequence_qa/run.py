"""sequence_qa: run the sequence checks over a view and store what they find in `qa_issues`.

Each check is one SQL query (checks.py); a run replaces the `qa_issues` rows of the kinds it
checked, in one transaction with its audit row. The frozen-frame check reads the content
hashes of `media_hashes`, computing those still missing first (hashes=True).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from workbench.analysis._store import audit, check_writable
from workbench.analysis.embeddings.store import now
from workbench.analysis.sequence_qa.checks import SEQUENCE_CHECKS, TRACKS, Thresholds, track_rows
from workbench.errors import AnalysisError
from workbench.model.sequence import QA_KINDS
from workbench.query._sql import Compiled

if TYPE_CHECKING:
    from workbench.query.view import View

_COLUMNS = "kind, severity, context_id, frame_id, source_id, field, track, details"
_FRAMES = "_qa_frames"
_TRACK_KINDS = frozenset({"short_track", "id_switch", "jump", "vanish"})


@dataclass(frozen=True)
class QaReport:
    """The issues a run found (an Arrow table shaped like `qa_issues`), counted per kind."""

    issues: pa.Table
    kinds: tuple[str, ...]
    thresholds: Thresholds
    seconds: float

    def counts(self) -> dict[str, int]:
        kinds = self.issues.column("kind").to_pylist()
        return {kind: kinds.count(kind) for kind in self.kinds}

    def of(self, kind: str) -> pa.Table:
        return self.issues.filter(pa.compute.equal(self.issues.column("kind"), kind))

    def __len__(self) -> int:
        return self.issues.num_rows

    def __str__(self) -> str:
        found = ", ".join(f"{k} {n}" for k, n in self.counts().items())
        return f"sequence QA: {self.issues.num_rows} issues ({found}) in {self.seconds:.2f} s"


def thresholds_of(options: dict[str, Any]) -> Thresholds:
    """Thresholds from keyword options, each checked against its default's type."""
    known = {f.name: f for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise AnalysisError(f"unknown sequence QA options {unknown}: expected {sorted(known)}")
    values: dict[str, Any] = {}
    for name, value in options.items():
        default = known[name].default
        if name == "fields":
            values[name] = _fields(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise AnalysisError(f"{name} must be True or False, got {value!r}")
            values[name] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise AnalysisError(f"{name} must be a non-negative number, got {value!r}")
        else:
            values[name] = int(value) if isinstance(default, int) else float(value)
    return Thresholds(**values)


def _fields(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    fields = (value,) if isinstance(value, str) else tuple(value)
    if not fields or not all(isinstance(f, str) for f in fields):
        raise AnalysisError(f"fields must be label field names, got {value!r}")
    return fields


def _kinds(kinds: Sequence[str] | str | None) -> tuple[str, ...]:
    if kinds is None:
        return QA_KINDS
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in chosen if k not in QA_KINDS]
    if not chosen or unknown:
        raise AnalysisError(f"QA kinds are among {', '.join(QA_KINDS)}, got {list(chosen)!r}")
    return tuple(k for k in QA_KINDS if k in chosen)


def frames_of(view: View) -> Compiled:
    """The view's frames as a relation to read with alias f: the table itself when the view
    holds every frame."""
    if view.plan.everything:
        return Compiled("frames")
    return "(SELECT * FROM frames WHERE id IN (" + view.compile() + "))"


def sequence_qa(
    view: View,
    kinds: Sequence[str] | str | None = None,
    *,
    hashes: bool = True,
    progress: bool = True,
    **options: Any,
) -> QaReport:
    """Check the view's sequences and tracks and store the issues in `qa_issues` (replacing
    those of the same kinds). Options are the thresholds of docs/sequence-qa.md."""
    started = time.perf_counter()
    check_writable(view.catalog, "sequence QA issues")
    chosen = _kinds(kinds)
    thresholds = thresholds_of(options)
    if "frozen" in chosen and hashes:
        from workbench.analysis.media_hashes import compute_hashes

        compute_hashes(view, progress=progress)
    frames = frames_of(view)
    queries = [SEQUENCE_CHECKS[kind](Compiled(_FRAMES), thresholds) for kind in chosen]
    union = Compiled.join(
        [("SELECT " + _COLUMNS + " FROM (" + q + ")") for q in queries], " UNION ALL "
    )
    with view.catalog.transaction() as con:
        # The view's frames, and the tracked ROIs when a track check runs, are made once into
        # temporary tables of this connection: the checks read them instead of joining again.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_FRAMES} AS SELECT id, context_id, timestamp,"
            " frame_index FROM " + frames.sql + " f",
            list(frames.params),
        )
        if set(chosen) & _TRACK_KINDS:
            tracks = track_rows(Compiled(_FRAMES), thresholds)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {TRACKS} AS " + tracks.sql, list(tracks.params)
            )
        for kind in chosen:
            con.execute("DELETE FROM qa_issues WHERE kind = ?", [kind])
        con.execute(
            f"INSERT INTO qa_issues ({_COLUMNS}, created) SELECT *, ? FROM (" + union.sql + ")",
            [now(), *union.params],
        )
        issues = con.sql(
            f"SELECT {_COLUMNS} FROM qa_issues WHERE kind IN ({', '.join('?' for _ in chosen)})"
            " ORDER BY context_id, kind, frame_id NULLS FIRST, field, track",
            params=list(chosen),
        ).to_arrow_table()
        counts = {k: 0 for k in chosen}
        for kind in issues.column("kind").to_pylist():
            counts[kind] += 1
        con.execute(f"DROP TABLE IF EXISTS {TRACKS}")
        con.execute(f"DROP TABLE IF EXISTS {_FRAMES}")
        audit(
            con,
            "sequence_qa",
            {"kinds": list(chosen)},
            issues.num_rows,
            details={"found": counts, "thresholds": _plain(thresholds)},
        )
    return QaReport(issues, chosen, thresholds, round(time.perf_counter() - started, 3))


def _plain(thresholds: Thresholds) -> dict[str, Any]:
    out = dataclasses.asdict(thresholds)
    if out["fields"] is not None:
        out["fields"] = list(out["fields"])
    return out


def list_issues(view: View, kinds: Sequence[str] | str | None = None) -> pa.Table:
    """The stored issues of the view's contexts (of `kinds`), as `qa_issues` has them."""
    chosen = _kinds(kinds)
    query = Compiled.join(
        [
            f"SELECT {_COLUMNS} FROM qa_issues q WHERE ",
            Compiled(f"q.kind IN ({', '.join('?' for _ in chosen)})", tuple(chosen)),
            " AND (q.frame_id IS NULL OR q.frame_id IN (",
            view.compile(),
            ")) AND q.context_id IN (SELECT context_id FROM frames WHERE id IN (",
            view.compile(),
            ")) ORDER BY q.context_id, q.kind, q.frame_id NULLS FIRST, q.field, q.track",
        ],
        "",
    )
    return view.run(query)
