"""SIGTERM and Ctrl-C as an orderly stop: the run is recorded, the lease released, one line printed.

``stop_on_signals()`` turns both signals into ``Stopped`` (job code cannot swallow it with
``except Exception``); ``uninterrupted()`` marks a block a stop must not cut in half; a stop never
lands inside a log call. docs/cron.md ("Stopping a run") has the whole story.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

import loguru

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A run's time limit (time_limit.py) stops it through this same path: its watchdog sends SIGALRM.
TIME_LIMIT_SIGNAL = signal.SIGALRM
TIME_LIMIT_EXIT_CODE = 124  # as GNU timeout(1)
REDELIVERY_DELAY = 0.005  # seconds; a log call is over long before
_LOGURU_DIR = os.path.dirname(loguru.__file__)


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived: stop now. ``line`` is what the process prints (the runner fills it in)."""

    def __init__(self, signum: int, *, anywhere: bool):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum
        self.anywhere = anywhere  # raised by the handler wherever the main thread was, maybe mid-query
        self.line = ""
        self._time_limit = _State.time_limit if signum == TIME_LIMIT_SIGNAL else None

    @property
    def signal_name(self) -> str:
        return signal_name(self.signum)

    @property
    def time_limit(self) -> str | None:
        """'time limit of 600 s reached' when the run's time limit sent this stop, else None."""
        return self._time_limit

    @property
    def cause(self) -> str:
        """What stopped the run, as its record says: 'terminated by SIGTERM', 'time limit of 600 s reached'."""
        return self.time_limit or f"terminated by {self.signal_name}"

    @property
    def exit_code(self) -> int:
        return TIME_LIMIT_EXIT_CODE if self.time_limit else 128 + self.signum


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class _State:
    depth = 0  # nesting of uninterrupted() blocks in the main thread
    pending: int | None = None  # a signal that arrived inside such a block
    requested: int | None = None  # the first stop signal of this process, once any arrived
    redelivering: int | None = None  # a stop that arrived inside a log call, sent again
    time_limit: str | None = None  # set by the time-limit watchdog before it sends TIME_LIMIT_SIGNAL


def _on_signal(signum, frame) -> None:
    redelivered = _State.redelivering == signum
    _State.redelivering = None
    first = _State.requested is None
    if first:
        _State.requested = signum
    if _State.depth and (first or redelivered):
        _State.pending = signum
        return
    if _inside_logging(frame):
        _redeliver_soon(signum)
        return
    _State.pending = None
    raise Stopped(signum, anywhere=True)


def _inside_logging(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_LOGURU_DIR):
            return True
        frame = frame.f_back
    return False


def _redeliver_soon(signum: int) -> None:
    _State.redelivering = signum
    main = threading.main_thread().ident

    def redeliver():
        if signal.getsignal(signum) is _on_signal:  # unless the stop handling has ended meanwhile
            signal.pthread_kill(main, signum)

    timer = threading.Timer(REDELIVERY_DELAY, redeliver)
    timer.daemon = True
    timer.start()


def _reset() -> None:
    _State.depth, _State.pending, _State.requested, _State.redelivering = 0, None, None, None
    _State.time_limit = None


def arm_time_limit() -> object | None:
    """Let TIME_LIMIT_SIGNAL stop this run like SIGTERM (main thread only); returns what to pass to
    ``disarm_time_limit``. None elsewhere: there the watchdog can only kill the process."""
    if not _in_main_thread():
        return None
    return signal.signal(TIME_LIMIT_SIGNAL, _on_signal)


def request_time_limit_stop(reason: str) -> None:
    """The watchdog's side: name the stop, then signal the main thread."""
    _State.time_limit = reason
    signal.pthread_kill(threading.main_thread().ident, TIME_LIMIT_SIGNAL)


def disarm_time_limit(previous) -> None:
    """The run is over: TIME_LIMIT_SIGNAL back to what it was. A time-limit stop that was handled is
    forgotten, so that the process (a Celery worker) serves its next run afresh; a SIGTERM stays."""
    if previous is None or not _in_main_thread():
        return
    signal.signal(TIME_LIMIT_SIGNAL, previous)
    if _State.requested == TIME_LIMIT_SIGNAL:
        _State.requested = None
    if _State.pending == TIME_LIMIT_SIGNAL:
        _State.pending = None
    _State.time_limit = None


def stop_requested() -> int | None:
    """The signal that asked this process to stop, if one did (also when it surfaced as another error)."""
    return _State.requested


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install_stop_handlers() -> dict:
    """SIGTERM and SIGINT raise ``Stopped`` from now on (main thread only); returns the previous handlers."""
    if not _in_main_thread():
        return {}
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS}
    _reset()
    return previous


@contextmanager
def stop_on_signals(*, restore: bool = True):
    """SIGTERM and SIGINT raise ``Stopped`` inside the block (main thread only; elsewhere a no-op).

    With ``restore`` the previous handlers come back when the block ends, so a command called
    in-process (a test, ``call_command``) leaves its caller's signal handling as it was.
    """
    previous = install_stop_handlers()
    try:
        yield
    finally:
        if restore and previous:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _reset()


def finished() -> None:
    """The command's work is done and recorded: from now on the stop signals are ignored, so the
    process exits with its own code. (SIG_IGN, not a Python handler: Python puts its handlers
    back to the default while it shuts down, and a late SIGTERM would then kill it silently.)"""
    if _in_main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


@contextmanager
def uninterrupted():
    """A stop arriving inside the block waits for its end (see the module docstring).

    The block should be short (one chunk's transaction): SIGTERM from a service manager is
    followed by SIGKILL after a grace period (systemd: 90 s, Kubernetes: 30 s). If the block
    ends with an exception, that exception goes on and the stop is raised at the next block's
    end; the runner also asks ``stop_requested()`` whatever it catches.
    """
    if not _in_main_thread():
        yield
        return
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if not _State.depth and _State.pending is not None:
        signum, _State.pending = _State.pending, None
        raise Stopped(signum, anywhere=False)
