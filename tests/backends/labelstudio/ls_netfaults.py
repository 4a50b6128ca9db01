"""The misbehaving network pieces Label Studio's tests use (see tests/backends/netfaults.py)."""

from ..netfaults import FaultyProxy, Reply, ScriptedServer

__all__ = ["FaultyProxy", "Reply", "ScriptedServer"]
