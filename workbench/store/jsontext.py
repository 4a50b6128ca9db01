"""JSON text for the catalog's JSON columns, whatever strings the data holds."""

from __future__ import annotations

import json
import re
from typing import Any

# Lone surrogates (file names that are not UTF-8 arrive as these) are not valid JSON for
# DuckDB: they are written as the text of their escape instead.
_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """`value` as JSON; values JSON has no type for are written as their str()."""
    text = json.dumps(value, default=str, ensure_ascii=False, sort_keys=sort_keys)
    return _SURROGATE.sub(lambda m: f"\\\\u{ord(m.group()):04x}", text)
