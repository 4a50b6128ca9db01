"""Renders some demo sequences in a separate process: `python -m workbench.demo.worker`.

build_demo starts this with the media folder, the seed, a file to write the results to and
the context ids to render. A plain subprocess (rather than multiprocessing) needs no
`if __name__ == "__main__"` guard in the caller's script and never forks a process that holds
DuckDB's threads.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from workbench.demo.build import render_context
from workbench.demo.scenario import CONTEXTS


def main(argv: list[str]) -> int:
    media_dir, seed, out, *context_ids = argv
    results = [
        render_context(spec, media_dir, int(seed))
        for spec in CONTEXTS
        if spec.context_id in context_ids
    ]
    # Written under a temporary name and renamed, so the parent never reads half a file.
    partial = Path(out + ".partial")
    partial.write_bytes(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
