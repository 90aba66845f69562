"""One benchmark's section of benchmarks/RESULTS.md, between its ``<!-- name -->`` markers.

Each benchmark rewrites only its own section, so that running one leaves the others' figures alone.
"""
from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the section called ``name`` in ``path`` by ``section`` (which holds its markers), or append it."""
    start, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
