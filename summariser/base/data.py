"""Files that ship inside the package (summariser/data): the released prompt versions, the gold
set, its labelling guide and the example dump, found wherever the package is installed."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(name: str) -> Path:
    """A file or folder of summariser/data (a real path: installs from a zip are not supported)."""
    return Path(str(files("summariser") / "data" / name))
