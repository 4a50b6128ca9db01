"""Where a job's units run: in this process, on Daft, or on Spark. One setting chooses.

- `local`: one unit after another in this process (no pool of our own).
- `daft`: a Daft DataFrame of units with `run_unit` as a row function. On Daft's native
  runner (this machine) it runs `workers` units at a time, each in a thread, with a progress
  bar; `WORKBENCH_DAFT_RUNNER=ray` (with `RAY_ADDRESS` naming the cluster) runs the same job
  on a Ray cluster, one partition a unit.
- `spark`: the units as an RDD mapped by `run_unit`. `WORKBENCH_SPARK_MASTER` (default
  `local[N]`) names the cluster: `spark://...`, `yarn`, `k8s://...`; on Databricks or EMR the
  session the platform made is used as it is.

Every engine returns the units' results to the driver, which commits them (jobs/ingest.py).
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import LakeError

ENGINES = ("local", "daft", "spark")
ENGINE_ENV = "WORKBENCH_JOB_ENGINE"


@dataclass(frozen=True)
class EngineConfig:
    """Which engine, and how many workers it may use here (a cluster decides for itself)."""

    engine: str = "local"
    workers: int = 2

    @classmethod
    def from_env(cls, engine: str | None = None, workers: int | None = None) -> EngineConfig:
        chosen = engine or os.environ.get(ENGINE_ENV) or "local"
        if chosen not in ENGINES:
            raise LakeError(f"unknown job engine {chosen!r}: one of {', '.join(ENGINES)}")
        return cls(chosen, workers or int(os.environ.get("WORKBENCH_JOB_WORKERS") or 2))


def run_units(
    units: Sequence[dict[str, Any]],
    work: Callable[[dict[str, Any]], str],
    config: EngineConfig,
    *,
    progress: bool = True,
) -> list[str]:
    """`work(unit)` for every unit on the configured engine; the results in unit order."""
    if config.engine == "daft":
        return _daft(units, work, config, progress)
    if config.engine == "spark":
        return _spark(units, work, config)
    return [work(u) for u in tqdm(units, desc="job", unit="unit", disable=not progress)]


def _daft(
    units: Sequence[dict[str, Any]],
    work: Callable[[dict[str, Any]], str],
    config: EngineConfig,
    progress: bool,
) -> list[str]:
    try:
        import daft
    except ImportError as exc:
        raise LakeError("the daft engine needs Daft installed (.ci/daft-venv)") from exc
    import orjson

    try:
        if os.environ.get("WORKBENCH_DAFT_RUNNER") == "ray":
            daft.set_runner_ray(address=os.environ.get("RAY_ADDRESS"), noop_if_initialized=True)
        else:
            daft.set_runner_native(num_threads=config.workers)
    except Exception:  # a runner is set for this process already: Daft keeps the first one
        pass

    ray = os.environ.get("WORKBENCH_DAFT_RUNNER") == "ray"
    df = daft.from_pydict(
        {"n": list(range(len(units))), "unit": [orjson.dumps(u).decode() for u in units]}
    )
    if ray:  # one partition a unit: Ray spreads them over the cluster
        df = df.into_partitions(max(1, len(units)))
    token = uuid.uuid4().hex
    df = df.with_column("result", _daft_function(work, config, ray, token)(df["unit"]))
    df = df.select("n", "result")
    _BARS[token] = tqdm(total=len(units), desc="job", unit="unit", disable=not progress)
    try:
        rows = df.to_pydict()
    finally:
        _GATES.pop(token, None)
        _BARS.pop(token).close()
    by_n = dict(zip(rows["n"], rows["result"], strict=True))
    return [by_n[n] for n in range(len(units))]


def _daft_function(
    work: Callable[[dict[str, Any]], str], config: EngineConfig, ray: bool, token: str
) -> Any:
    """`work` as a Daft row function. On Ray, a plain one (each partition a task). The native
    runner calls a plain row function one row after another, so here it is a coroutine that
    runs `work` in a thread, at most `config.workers` at a time: a unit's work is mostly
    DuckDB, pyarrow, Pillow and NumPy, which release the interpreter lock (processes,
    `use_process=True`, measured slower here for their start-up)."""
    import asyncio

    import daft
    import orjson

    if ray:

        @daft.func(return_dtype=daft.DataType.string())
        def run(unit: str) -> str:
            return work(orjson.loads(unit))

        return run
    workers = config.workers

    @daft.func(return_dtype=daft.DataType.string(), max_concurrency=workers)
    async def run_async(unit: str) -> str:
        return await asyncio.to_thread(_gated, token, workers, work, unit)

    return run_async


# Per job run on the native runner (in this process): its gate and its progress bar.
_GATES: dict[str, threading.BoundedSemaphore] = {}
_BARS: dict[str, Any] = {}
_GATES_LOCK = threading.Lock()


def _gated(token: str, workers: int, work: Callable[[dict[str, Any]], str], unit: str) -> str:
    """`work(unit)` with at most `workers` of one job's units at a time in this process."""
    import orjson

    with _GATES_LOCK:
        gate = _GATES.setdefault(token, threading.BoundedSemaphore(workers))
    with gate:
        result = work(orjson.loads(unit))
    bar = _BARS.get(token)
    if bar is not None:
        bar.update(1)
    return result


def _spark(
    units: Sequence[dict[str, Any]], work: Callable[[dict[str, Any]], str], config: EngineConfig
) -> list[str]:
    spark = spark_session(config)
    rdd = spark.sparkContext.parallelize(list(units), max(1, min(config.workers, len(units))))
    return [str(r) for r in rdd.map(work).collect()]


def spark_session(config: EngineConfig) -> Any:
    """The active Spark session, or a new one on $WORKBENCH_SPARK_MASTER (default local[N])."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise LakeError("the spark engine needs pyspark installed (the lake extra)") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = os.environ.get("WORKBENCH_SPARK_MASTER") or f"local[{config.workers}]"
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this interpreter
    return (
        SparkSession.builder.master(master)
        .appName("workbench")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(max(config.workers, 1)))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
