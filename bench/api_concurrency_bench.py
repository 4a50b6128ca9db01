"""How long API calls wait while other clients, and one long action, use the same server.

    python bench/api_concurrency_bench.py                 # 90,000 frames, 20 clients, 20 s each
    python bench/api_concurrency_bench.py --clients 20 --seconds 20 --by-method --json out.json

Builds a catalog in a temporary folder (--frames frames in contexts of 10, one image file
each, three ground-truth boxes per frame), starts a real `workbench serve` process on it,
and runs three phases of --seconds each:

  alone     one client doing the mix below: the baseline
  clients   --clients clients doing the mix at once
  long      the same clients while a long action runs back to back the whole time:
            `annotate` of --long-frames frames (with their boxes) on the local platform

Each client is a thread with its own `workbench.connect` client, pausing --pause seconds
on average between calls: reads (query_inputs, get_projects, get_batches,
get_scenes_by_uuids, find_scenes, audit_log, list_annotation_runs: 70%), small writes
(create_batch, create_scenes_from_frames of one frame, create_request: 25%) and
GET /liveness (the server's IO loop: 5%). It prints p50/p95/max latency per kind and phase,
calls per second, the long action's durations and the load average (the machine may be
shared: compare phases of the same run) and, when the server sends `Server-Timing`, how
long it kept the calls waiting for a thread ("queued").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring

CONTEXT_FRAMES = 10
PROJECT = "bench"
KINDS = ("read", "write", "liveness")
_URL_LINE = re.compile(r"Serving workbench on (http://\S+)")


@dataclass(frozen=True)
class Figures:
    phase: str
    kind: str
    calls: int
    per_second: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    errors: int
    # How long the server kept the calls waiting for a thread (its Server-Timing header;
    # None when the server does not send one).
    queue_p95_ms: float | None = None
    queue_max_ms: float | None = None


def build(folder: Path, frames: int) -> Path:
    media = folder / "media"
    media.mkdir()
    path = folder / "bench.duckdb"
    with workbench.open(path) as catalog, CatalogWriter(catalog, progress=False) as writer:
        for i in range(frames):
            uri = media / f"{i:07d}.jpg"
            uri.touch()  # scenes check that their local media exist
            rois = [
                Roi(f"b{k}", "box", ["car" if k else "truck"], geometry=[box_ring(10 * k, 5, 8, 8)])
                for k in range(3)
            ]
            writer.add(
                Frame(
                    f"f{i:07d}",
                    context_id=f"c{i // CONTEXT_FRAMES:06d}",
                    timestamp=i,
                    sources=[Source("image", str(uri), 640, 480)],
                    rois=rois,
                )
            )
    return path


def start_server(catalog: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "workbench.cli", "serve", "--catalog", str(catalog)]
    command += ["--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOKEH_BROWSER": "none"}
    env.pop("WORKBENCH_API_TOKEN", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = _URL_LINE.search(log_path.read_text(errors="replace"))
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("workbench serve did not start:\n" + log_path.read_text())


Call = tuple[str, Callable[[], Any]]


class ServerTiming(httpx.HTTPTransport):
    """The network, noting how long the server says each call waited for a thread."""

    def __init__(self) -> None:
        super().__init__()
        self.last_queue: float | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        for part in response.headers.get("Server-Timing", "").split(","):
            name, _, duration = part.strip().partition(";dur=")
            if name == "queue" and duration:
                self.last_queue = float(duration) / 1000
        return response


class Mix:
    """The calls one client makes, drawn at random (seeded per client)."""

    def __init__(self, url: str, seed: int, frames: int, scene_uuids: list[str]) -> None:
        self.url = url
        self.timing = ServerTiming()
        self.client = workbench.connect(
            url, actor=f"client-{seed}", timeout=600, transport=self.timing
        )
        self.http = httpx.Client(timeout=600)
        self.random = random.Random(seed)
        self.seed = seed
        self.frames = frames
        self.scene_uuids = scene_uuids
        self.count = 0
        c = self.client
        reads: list[Call] = [
            ("query_inputs", lambda: c.query_inputs(project=PROJECT)),
            ("get_projects", c.get_projects),
            ("get_batches", lambda: c.get_batches(PROJECT)),
            ("get_scenes_by_uuids", lambda: c.get_scenes_by_uuids(self._scenes(3))),
            ("find_scenes", lambda: c.find_scenes(frame_ids=[self._frame() for _ in range(5)])),
            ("audit_log", lambda: c.audit_log(limit=20)),
            ("list_annotation_runs", c.list_annotation_runs),
        ]
        writes: list[Call] = [
            ("create_batch", lambda: c.create_batch(PROJECT, external_id=self._unique("b"))),
            ("create_scenes_from_frames", lambda: c.create_scenes_from_frames([self._frame()])),
            ("create_request", lambda: c.create_request(PROJECT, title=self._unique("r"))),
        ]
        self.kinds: list[tuple[str, float, list[Call]]] = [
            ("read", 0.70, reads),
            ("write", 0.25, writes),
            ("liveness", 0.05, [("GET /liveness", self._liveness)]),
        ]

    def _frame(self) -> str:
        return f"f{self.random.randrange(self.frames):07d}"

    def _scenes(self, count: int) -> list[str]:
        return self.random.sample(self.scene_uuids, count)

    def _unique(self, what: str) -> str:
        self.count += 1
        return f"{what}-{self.seed}-{self.count}"

    def _liveness(self) -> None:
        self.http.get(self.url + "liveness").raise_for_status()

    def _pick(self) -> tuple[str, list[Call]]:
        draw = self.random.random()
        for kind, share, calls in self.kinds:
            if draw < share:
                return kind, calls
            draw -= share
        return self.kinds[-1][0], self.kinds[-1][2]

    def one(self) -> tuple[str, str, float, float | None, bool]:
        """One call: its kind, its name, how long it took, how long the server kept it
        waiting for a thread, and whether it succeeded."""
        kind, calls = self._pick()
        name, call = self.random.choice(calls)
        self.timing.last_queue = None
        start = time.perf_counter()
        try:
            call()
            ok = True
        except Exception as exc:  # counted and shown, the bench carries on
            print(f"  {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            ok = False
        return kind, name, time.perf_counter() - start, self.timing.last_queue, ok

    def close(self) -> None:
        self.client.close()
        self.http.close()


def long_actions(
    url: str, frames: int, size: int, stop: threading.Event, took: list[float]
) -> None:
    """Annotate `size` frames as a new run, again and again until told to stop; each round
    takes the next frames (new scenes every time, as a person sending new data would)."""
    with workbench.connect(url, actor="long", timeout=3600) as client:
        round_ = 0
        while not stop.is_set():
            first = (round_ * size) % max(1, frames - size)
            ids = [f"f{i:07d}" for i in range(first, first + size)]
            round_ += 1
            start = time.perf_counter()
            client.annotate(ids, f"long-{round_}", label_field="ground_truth", task_size=200)
            took.append(time.perf_counter() - start)


@dataclass(frozen=True)
class Setup:
    url: str
    seconds: float
    pause: float
    frames: int
    long_frames: int
    scene_uuids: list[str]


@dataclass
class Samples:
    """What the clients of one phase measured, by kind and by method."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)
    by_method: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    queued: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, name: str, took: float, queued: float | None, ok: bool) -> None:
        with self.lock:
            self.by_kind.setdefault(kind, []).append(took)
            if queued is not None:
                self.queued.setdefault(kind, []).append(queued)
            self.by_method.setdefault(name, []).append(took)
            self.errors[kind] = self.errors.get(kind, 0) + (0 if ok else 1)


def run_phase(
    name: str, setup: Setup, clients: int, long_action: bool
) -> tuple[list[Figures], list[Figures], list[float]]:
    """`clients` clients calling for setup.seconds, with a long action running or not."""
    stop = threading.Event()
    samples = Samples()
    mixes = [
        Mix(setup.url, 1000 * len(name) + i, setup.frames, setup.scene_uuids)
        for i in range(clients)
    ]

    def client_loop(mix: Mix) -> None:
        while not stop.is_set():
            samples.add(*mix.one())
            stop.wait(mix.random.uniform(0, 2 * setup.pause))  # a pause of `pause` on average

    long_took: list[float] = []
    threads = [threading.Thread(target=client_loop, args=(m,)) for m in mixes]
    long_thread = threading.Thread(
        target=long_actions, args=(setup.url, setup.frames, setup.long_frames, stop, long_took)
    )
    if long_action:
        long_thread.start()
        time.sleep(1.0)  # let the first long action get going
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(setup.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if long_action:
        long_thread.join()
    for mix in mixes:
        mix.close()
    kinds = [
        _figures(name, k, v, elapsed, samples.errors.get(k, 0), samples.queued.get(k))
        for k, v in samples.by_kind.items()
    ]
    methods = [_figures(name, k, v, elapsed, 0) for k, v in sorted(samples.by_method.items())]
    return sorted(kinds, key=lambda f: KINDS.index(f.kind)), methods, long_took


def _figures(
    phase: str,
    kind: str,
    values: list[float],
    elapsed: float,
    errors: int,
    queued: list[float] | None = None,
) -> Figures:
    return Figures(
        phase,
        kind,
        len(values),
        len(values) / elapsed,
        _at(values, 0.5),
        _at(values, 0.95),
        _at(values, 1.0),
        errors,
        _at(queued, 0.95) if queued else None,
        _at(queued, 1.0) if queued else None,
    )


def _at(values: list[float], q: float) -> float:
    """The q-quantile of `values` in ms (nearest rank)."""
    ordered = sorted(values) or [float("nan")]
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def prepare(url: str, frames: int) -> list[str]:
    """A project with a batch and 200 inputs, so reads have something to return."""
    with workbench.connect(url, actor="setup", timeout=600) as client:
        client.create_project(PROJECT)
        client.create_batch(PROJECT, external_id="b0")
        ids = [f"f{i:07d}" for i in range(frames - 2000, frames - 1800)]
        scenes = client.create_scenes_from_frames(ids)
        uuids = [s.uuid for s in scenes]
        client.create_inputs_from_scenes(PROJECT, scene_uuids=uuids)
        return uuids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90_000)
    parser.add_argument("--long-frames", type=int, default=30_000, help="frames per long action")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument(
        "--pause", type=float, default=0.5, help="mean pause between a client's calls, s"
    )
    parser.add_argument("--by-method", action="store_true", help="also figures per method")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = build(folder, args.frames)
        process, url = start_server(catalog, folder / "serve.log")
        try:
            uuids = prepare(url, args.frames)
            setup = Setup(url, args.seconds, args.pause, args.frames, args.long_frames, uuids)
            figures: list[Figures] = []
            methods: list[Figures] = []
            long_took: list[float] = []
            for phase, clients, long_action in (
                ("alone", 1, False),
                ("clients", args.clients, False),
                ("long", args.clients, True),
            ):
                kinds, by_method, took = run_phase(phase, setup, clients, long_action)
                figures += kinds
                methods += by_method
                long_took += took
        finally:
            process.terminate()
            process.wait(timeout=120)
    load_after = os.getloadavg()
    print(
        f"\n{args.frames} frames; {args.clients} clients pausing {args.pause} s on average; "
        f"{args.seconds:.0f} s per phase; long action: annotate {args.long_frames} frames"
    )
    print(
        f"{os.cpu_count()} cores, load average {_load(load_before)} before, "
        f"{_load(load_after)} after"
    )
    _print(figures, "kind")
    if args.by_method:
        _print(methods, "method")
    if long_took:
        shown = ", ".join(f"{t:.1f}" for t in long_took)
        print(f"long actions: {len(long_took)}, took {shown} s")
    if args.json:
        result = {
            "figures": [asdict(f) for f in figures],
            "methods": [asdict(f) for f in methods],
            "long_action_s": long_took,
            "load_before": load_before,
            "load_after": load_after,
        }
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _load(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _print(figures: list[Figures], what: str) -> None:
    width = max(len(f.kind) for f in figures)
    print(
        f"{'phase':<8} {what:<{width}} {'calls':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'max ms':>8} {'errors':>6}  queued p95 / max ms"
    )
    for f in figures:
        queued = "n/a" if f.queue_p95_ms is None else f"{f.queue_p95_ms:.1f} / {f.queue_max_ms:.1f}"
        print(
            f"{f.phase:<8} {f.kind:<{width}} {f.calls:>6} {f.per_second:>7.1f} {f.p50_ms:>8.1f} "
            f"{f.p95_ms:>8.1f} {f.max_ms:>8.1f} {f.errors:>6}  {queued}"
        )


if __name__ == "__main__":
    sys.exit(main())
