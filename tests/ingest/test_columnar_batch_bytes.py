"""NDJSON batches bounded by bytes: every line once, in order, numbered as in the file, and
no batch past the bound unless it is one line longer than it."""

import random
from pathlib import Path

import pytest

from workbench.ingest import _columnar


@pytest.mark.parametrize("seed", range(30))
def test_batches_bounded_by_bytes_hold_every_line_once(tmp_path: Path, seed: int, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.setattr(_columnar, "_CHUNK_BYTES", rng.choice([8, 64, 1 << 20]))
    texts = [b'{"x":"' + b"y" * rng.randint(0, 80) + b'"}' for _ in range(rng.randint(1, 40))]
    path = tmp_path / "f.ndjson"
    path.write_bytes(b"\n".join(t + (b"\n\n" if rng.random() < 0.1 else b"") for t in texts))
    bound, per_batch = rng.choice([1, 30, 100, 400]), rng.choice([1, 3, 50])
    lines = []
    for batch in _columnar.ndjson_batches(path, per_batch, max_bytes=bound):
        got = batch.lines["j"].to_pylist()
        assert len(got) <= per_batch  # blank lines are left out of a batch
        assert len(got) <= 1 or sum(len(t.encode()) for t in got) <= bound
        lines += list(zip(batch.lines["n"].to_pylist(), got, strict=True))
    assert [t for _, t in lines] == [t.decode() for t in texts]
    assert [n for n, _ in lines] == sorted({n for n, _ in lines})
