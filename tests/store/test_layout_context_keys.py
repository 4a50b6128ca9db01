"""A write's context keys (layout_hashes.context_keys) from one dictionary of its context
ids: contexts keyed before keep their keys, new ones are numbered after the last in the
order of their first frame (by frame key, whatever the rows' order), every frame gets its
context's key, and context_keys holds each new context once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import workbench
from workbench.store import layout, layout_hashes


def _expected(known: dict[str, int], contexts: list[str], keys: list[int]) -> list[int]:
    """The keys as layout.add_context_keys numbers them: new contexts by first frame key."""
    first: dict[str, int] = {}
    for context, key in zip(contexts, keys, strict=True):
        if context not in known:
            first[context] = min(first.get(context, key), key)
    top = max(known.values(), default=-1) + 1
    numbered = dict(known)
    for n, context in enumerate(sorted(first, key=first.__getitem__)):
        numbered[context] = top + n
    return [numbered[c] for c in contexts]


BATCHES = {
    "runs in key order": (["a", "a", "b", "b", "c"], [0, 1, 2, 3, 4]),
    "one context a frame": (["p", "q", "r", "s"], [0, 1, 2, 3]),
    "interleaved": (["b", "a", "b", "c", "a"], [0, 1, 2, 3, 4]),
    "rows out of key order": (["a", "b", "c", "b", "d"], [7, 3, 5, 1, 0]),
}


@pytest.mark.parametrize("second", BATCHES)
@pytest.mark.parametrize("first", BATCHES)
def test_context_keys_of_two_writes(tmp_path: Path, first: str, second: str):
    with workbench.open(tmp_path / "contexts.duckdb") as catalog:
        con = catalog.cursor()
        known: dict[str, int] = {}
        for n, name in enumerate((first, second)):
            contexts, keys = BATCHES[name]
            contexts = [f"{c}{n % 2 if name == 'one context a frame' else ''}" for c in contexts]
            frames = pa.table(
                {
                    "context_id": pa.array(contexts),
                    "frame_key": pa.array(np.array(keys) + 10 * n, pa.int64()),
                }
            )
            con.execute("BEGIN")
            got = layout_hashes.context_keys(con, frames)
            con.execute("COMMIT")
            assert got.dtype == np.int32
            assert got.tolist() == _expected(known, contexts, [k + 10 * n for k in keys])
            stored = con.execute(f"SELECT context_id, context_key FROM {layout.CONTEXT_KEYS}")
            rows = stored.fetchall()
            assert len(rows) == len({c for c, _ in rows}) == len({k for _, k in rows})
            known = dict(rows)
            assert all(known[c] == k for c, k in zip(contexts, got.tolist(), strict=True))
