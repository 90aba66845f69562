"""The no-op task of the timed-task benchmark: it only notes its argument, so that every call
can be counted afterwards (exactly once) without a database write per call.

Each process appends to ``$BENCH_CALLS_DIR/<pid>.txt`` (buffered; flushed at exit).
"""
from __future__ import annotations

import atexit
import os

_out = None


def noop(n: int) -> None:
    global _out
    if _out is None:
        _out = open(os.path.join(os.environ["BENCH_CALLS_DIR"], f"{os.getpid()}.txt"), "a", buffering=1 << 20)
        atexit.register(_out.close)
    _out.write(f"{n}\n")
