"""Every case of the malformed-input corpus through `workbench ingest`, on a real catalog.

A few cases per format run the CLI in a subprocess, the others run the same CLI entry point
in this process (a subprocess start costs about a second). Each case checks the exit code,
that each refused record is named (file and line, index or record id), that every good record
is stored, that frames stored before the import are untouched, and the time taken.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import workbench
from workbench.cli import main, parse_options
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring, importer

from .malformed_corpus import Case, build

ROOT = Path(__file__).resolve().parents[2]
KEEP = ["keep:1", "keep:2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Case]]:
    root = tmp_path_factory.mktemp("corpus")
    return {case.name: (root / case.name, case) for case in build(root)}


def _cases() -> list[str]:
    # The names only (building writes files): the corpus fixture builds them once.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [case.name for case in build(Path(tmp))]


CASES = _cases()


def test_the_corpus_covers_every_format_with_100_cases(corpus) -> None:
    cases = [case for _, case in corpus.values()]
    assert len(cases) >= 100
    formats = {"clearml", "coco", "nucleus", "nucleus_annotations", "labelbox", "images", "video",
               "parquet"}  # fmt: skip
    assert {c.fmt for c in cases} == formats
    assert {c.fmt for c in cases if c.cli} == formats  # every format through a subprocess
    assert sum(len(c.errors) for c in cases) >= 100


def _prepare(folder: Path, case: Case) -> Path:
    """A catalog with frames of its own, and the frames a label import needs."""
    path = folder / "catalog.duckdb"
    path.unlink(missing_ok=True)
    with workbench.open(path) as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            for fid in KEEP:
                roi = Roi("k", "box", ["kept"], geometry=[box_ring(1, 1, 2, 2)])
                writer.add(Frame(fid, sources=[Source("image", f"/kept/{fid}.jpg")], rois=[roi]))
        for fmt, files, options in case.setup:
            report = importer(fmt)(catalog, [folder / f for f in files], progress=False,
                                   **parse_options(options))  # fmt: skip
            assert report.ok, report
    return path


def _run(case: Case, folder: Path, catalog: Path) -> tuple[int, str]:
    args = ["--catalog", str(catalog), "ingest", case.fmt, *[str(folder / f) for f in case.files]]
    for option in case.options:
        args += ["-o", option]
    if case.cli:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *args],
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=case.seconds + 60,
        )
        return done.returncode, done.stdout + done.stderr
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(args)
    return code, out.getvalue()


def _stored(catalog: Path, case: Case) -> set[str]:
    with workbench.open(catalog) as cat:
        if case.labels_field is not None:
            rows = cat.sql(
                "SELECT id FROM rois WHERE field = ? AND frame_id NOT IN ('keep:1', 'keep:2')",
                [case.labels_field],
            ).fetchall()
            return {r[0] for r in rows}
        setup = {r[0] for r in cat.sql("SELECT id FROM frames").fetchall()} - set(KEEP)
        return setup


def _kept(catalog: Path) -> list[tuple]:
    with workbench.open(catalog) as cat:
        return cat.sql(
            "SELECT f.id, s.uri, r.id, r.label FROM frames f JOIN sources s ON s.frame_id = f.id "
            "JOIN rois r ON r.frame_id = f.id WHERE f.id LIKE 'keep:%' ORDER BY f.id"
        ).fetchall()


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.mark.parametrize("name", CASES)
def test_case(corpus, name: str) -> None:
    folder, case = corpus[name]
    catalog = _prepare(folder, case)
    before_setup = _stored(catalog, case) if case.setup and case.labels_field is None else set()
    kept = _kept(catalog)
    started, cpu_started = time.monotonic(), _cpu_seconds()
    code, output = _run(case, folder, catalog)
    elapsed, cpu = time.monotonic() - started, _cpu_seconds() - cpu_started
    assert code == case.expected_exit, output
    # The bound is on CPU time (this process and the CLI's), which a loaded machine does not
    # stretch; wall time only has to show that nothing hangs.
    assert cpu < case.seconds, f"{name} used {cpu:.1f} s of CPU"
    assert elapsed < case.seconds * 6, f"{name} took {elapsed:.1f} s"
    assert "Traceback" not in output, output
    lines = output.splitlines()
    for locator, problem in case.errors:
        named = [line for line in lines if locator in line and problem in line]
        assert named, f"no error with {locator!r} and {problem!r} in:\n{output[:3000]}"
        if case.expected_exit == 1:
            # The error names the file (or folder) the record came from.
            assert any(str(folder) in line for line in named), output[:3000]
    if case.expected_exit != 2:
        assert f"{sum(1 for _ in case.errors)}" and "records rejected" in output
    for kind, count in case.warnings.items():
        assert f"warning: {count} {kind}" in output, output[:3000]
    assert _stored(catalog, case) - before_setup == case.stored
    assert _kept(catalog) == kept  # nothing stored before the import is lost
