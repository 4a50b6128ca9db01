"""JSON text: for the catalog's JSON columns (whatever strings the data holds), compact and
canonical for stored labels, and read back from a column that may hold text or a value."""

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


def json_or_none(value: Any) -> str | None:
    """`value` as compact JSON with sorted keys (the same value, the same text); None stays
    None."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def parse_json(text: Any) -> Any:
    """The value of a JSON column: text is parsed; a value DuckDB already parsed, or None, is
    returned as it is."""
    if text is None or not isinstance(text, str):
        return text
    return json.loads(text)
