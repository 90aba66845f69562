"""Read the end of a (possibly huge) job log without loading it.

``log_tail`` reads backwards in fixed-size blocks within a byte budget, so memory stays bounded
whatever the file's size, and matches whole records (a traceback stays with its line).
docs/staff.md ("Log tail") has the whole story.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

# Loguru's levels and their numbers; the filter shows the chosen level and above.
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 25, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # read at most this much of the file's end
BLOCK_SIZE = 64 * 1024
MAX_LINE_BYTES = 16 * 1024  # a longer line is cut: one runaway line must not eat the memory
MAX_RECORD_LINES = 400  # a longer traceback keeps its last lines (the exception itself)

# A text record ("2024-05-01 08:00:00.000 +08:00 | INFO     | …") or a LOG_FORMAT=json one
# ({"time": "…", "level": "INFO", …}: oms_conf.logging writes these two keys first).
_RECORD_HEAD = re.compile(r'^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^|]*\|\s*([A-Z]+)\s*\||\{"time": "[^"]*", "level": "([A-Z]+)")')


def record_level(line: str) -> str | None:
    """The level of a record's first line, or None for a continuation line."""
    match = _RECORD_HEAD.match(line)
    level = match and (match.group(1) or match.group(2))
    return level if level in LEVELS else None


def _reversed_lines(path: Path, *, max_bytes: int, block_size: int):
    """Yield the file's lines from the last to the first, reading at most ``max_bytes``.

    The first (oldest) line reached when the budget runs out is usually cut in the
    middle, so it is dropped rather than shown half.
    """
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        stop_at = max(0, position - max_bytes)
        partial = b""  # the start of a line whose beginning lies in an earlier block
        first_block = True
        while position > stop_at:
            size = min(block_size, position - stop_at)
            position -= size
            handle.seek(position)
            chunk = handle.read(size) + partial
            pieces = chunk.split(b"\n")
            partial = pieces[0][-MAX_LINE_BYTES:]
            lines = pieces[1:]
            if first_block and lines and lines[-1] == b"":
                lines.pop()  # the file's final newline ends a line, it does not start one
            first_block = False
            for raw in reversed(lines):
                yield raw[:MAX_LINE_BYTES].decode("utf-8", errors="replace").rstrip("\r")
        if stop_at == 0 and (partial or not first_block):
            yield partial.decode("utf-8", errors="replace").rstrip("\r")


def log_tail(
    path: str | os.PathLike,
    *,
    lines: int = 200,
    level: str | None = None,
    contains: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    block_size: int = BLOCK_SIZE,
) -> list[str]:
    """The last ``lines`` lines of the log at ``path`` (oldest first) that pass the filters.

    ``level``: show records of this loguru level and above (e.g. "WARNING").
    ``contains``: show records containing this text (case-insensitive).
    Whole records are kept together, so the answer may exceed ``lines`` by the rest
    of the oldest record. A missing file is an empty tail.
    """
    path = Path(path)
    if lines <= 0 or not path.is_file():
        return []
    minimum = LEVELS[level.upper()] if level else None
    needle = contains.casefold() if contains else None

    chosen: list[list[str]] = []  # newest record first
    chosen_lines = 0
    continuation: list[str] = []  # lines seen below a record head not reached yet (newest first)

    def keep(record: list[str], head_level: str | None) -> None:
        nonlocal chosen_lines
        if minimum is not None and (head_level is None or LEVELS[head_level] < minimum):
            return
        if needle is not None and not any(needle in line.casefold() for line in record):
            return
        chosen.append(record)
        chosen_lines += len(record)

    for line in _reversed_lines(path, max_bytes=max_bytes, block_size=block_size):
        head_level = record_level(line)
        if head_level is None:
            if len(continuation) < MAX_RECORD_LINES:
                continuation.append(line)
            continue
        keep([line, *reversed(continuation)], head_level)
        continuation = []
        if chosen_lines >= lines:
            break
    else:
        # Lines above the first record head we reached (start of file or of the budget)
        # belong to no known record; they pass only when no level is asked for.
        if continuation:
            keep(list(reversed(continuation)), None)

    return [line for record in reversed(chosen) for line in record]
