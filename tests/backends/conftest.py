"""Helpers shared by the backend tests (netfaults.py) are importable from every package here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
