"""The NDJSON reader read in small chunks: every line as Python splits the file (numbered as
in an editor, blank ones left out, a BOM ignored, a too long line named and skipped, lines
not UTF-8 named), and a batch spanning chunks holds its lines in the chunks they were split
in rather than copied into one array."""

import random
from pathlib import Path

import pytest

from workbench.ingest import _columnar
from workbench.ingest.jsonread import BOM, too_large

LIMIT = 150  # bytes of the longest line read (MAX_RECORD_BYTES, lowered)


def _file(rng: random.Random) -> bytes:
    lines = []
    for number in range(rng.randrange(0, 50)):
        kind = rng.random()
        if kind < 0.1:
            lines.append(b"")
        elif kind < 0.15:
            lines.append(b" \t")
        elif kind < 0.3:
            lines.append(b'{"x": "' + b"a" * rng.randrange(0, 2 * LIMIT) + b'"}')
        elif kind < 0.35:
            lines.append(b'{"x": "\xff"}')
        else:
            lines.append(b'{"id": %d, "v": [1, 2]}' % number)
    data = b"\n".join(lines) + rng.choice([b"", b"\n", b"\n\n"])
    return BOM + data if rng.random() < 0.3 else data


def _expected(data: bytes) -> tuple[list[tuple[int, str]], list[int], list[int]]:
    """(number, text) of the lines read, the numbers of those too long, of those not UTF-8."""
    read, long, bad = [], [], []
    for number, line in enumerate(data.removeprefix(BOM).split(b"\n"), 1):
        if len(line) > LIMIT:
            long.append(number)
        elif not line.strip():
            continue
        else:
            try:
                read.append((number, line.decode()))
            except UnicodeDecodeError:
                bad.append(number)
    return read, long, bad


@pytest.mark.parametrize("seed", range(60))
def test_lines_read_in_small_chunks_are_the_files_lines(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(_columnar, "_CHUNK_BYTES", rng.choice([8, 17, 64, 101, 4096]))
    monkeypatch.setattr(_columnar, "MAX_RECORD_BYTES", LIMIT)
    data = _file(rng)
    path = tmp_path / "f.ndjson"
    path.write_bytes(data)
    read, problems = [], []
    for batch in _columnar.ndjson_batches(path, rng.choice([1, 3, 50])):
        lines = batch.lines
        read += list(zip(lines["n"].to_pylist(), lines["j"].to_pylist(), strict=True))
        problems += batch.problems
    lines, long, bad = _expected(data)
    assert read == lines
    assert [n for n, p in problems if p.startswith("not UTF-8")] == bad
    too_long = [(n, p) for n, p in problems if not p.startswith("not UTF-8")]
    assert [n for n, _ in too_long] == long
    sizes = [len(line) + 1 for line in data.removeprefix(BOM).split(b"\n")]
    for number, problem in too_long:  # the line's bytes with its line break, when it has one
        assert problem in (too_large(sizes[number - 1]), too_large(sizes[number - 1] - 1))


def test_a_batch_keeps_the_chunks_its_lines_were_split_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_columnar, "_CHUNK_BYTES", 1000)
    texts = [f'{{"id": "f{n:04d}", "pad": "{"x" * 50}"}}' for n in range(100)]
    path = tmp_path / "f.ndjson"
    path.write_text("\n".join(texts) + "\n")
    (batch,) = _columnar.ndjson_batches(path, 100)
    assert batch.lines["j"].to_pylist() == texts
    assert batch.lines["j"].num_chunks > 1  # not copied into one array
