"""The minute's run of an interval job (``every 10s``): calls on the N-second grid, one record a minute.

Every engine starts an interval job once a minute, like any ``* * * * *`` job, and that run calls
the function at the wall clock's :00, :10, :20… of its minute (``BeatLoop``), summing the items into
its one run record. Two rules keep the calls in order:

- one call at a time: a beat that finds the previous call still running is skipped (logged once per
  run, counted in its message), never queued up behind it;
- no gap at the minute boundary: the next minute's run starts a moment after its minute does (a
  process to start, a Celery hop) and waits for the lease (``take_over_lease``); meanwhile the
  previous run keeps beating on the grid past its minute, and hands the lease over when it sees its
  successor waiting, between two beats (``HANDOVER_MARGIN`` before the next at least). The successor
  starts at the next grid point. Without a
  successor (paused, the engine stopped) a run goes on at most ``HANDOVER_LIMIT`` past its minute.

A run whose minute was over before it began (``cronjobs tick --at`` a past minute, a message delivered
late) calls nothing: an interval job's beats are never replayed. The whole story: docs/intervals.md.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from basic.cron_runtime.models import JobRun, RunOutcome
from basic.cron_runtime.running.lease import JobLease
from basic.cron_runtime.running.progress import RunProgress, tracking_progress
from basic.cron_runtime.running.result import JobFailed, JobReport, read_result
from basic.cron_runtime.running.stopping import uninterrupted
from basic.cron_runtime.running.time_limit import time_limit
from basic.cron_runtime.scheduling.pausing import job_pause_state
from basic.cron_runtime.scheduling.registry import Job
from basic.cron_runtime.scheduling.schedule import business_tz

MINUTE_SECONDS = 60
# How long past its minute a run keeps beating while no successor has come for the lease. The next
# minute's run takes well under a second to start (a process: ~0.5 s, Celery: ~10 ms), a few on a
# loaded host; a longer wait only means a paused or stopped job beats a little longer.
HANDOVER_LIMIT = 10.0
# How often the waiting successor tries the lease, and the run past its minute looks for it: a few
# queries a poll, for the fraction of a second a handover takes.
HANDOVER_POLL = 0.05
# The lease is handed over only this long before the next beat at least, so that the successor (a
# busy host may make it slow) has it in time for that beat; closer, the run makes that call first.
HANDOVER_MARGIN = 0.5


@dataclass
class BeatCount:
    calls: int = 0
    items: int = 0
    busy_skips: int = 0  # beats that found the previous call still running
    failures: int = 0
    first_beat: float | None = None
    last_beat: float | None = None
    last_message: str = ""
    last_error: BaseException | None = None


class BeatLoop:
    """One run's beats. ``clock`` (epoch seconds) and ``sleep`` are replaceable for tests, as the ticker's."""

    def __init__(self, job: Job, run: JobRun, call: Callable[[], object], *, log, progress: RunProgress,
                 on_kill: Callable[[str], None], clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.job, self.run, self.call, self.log = job, run, call, log
        self.progress, self.on_kill = progress, on_kill
        self.clock, self.sleep = clock, sleep
        self.every = job.interval
        self.window_start = run.slot.timestamp()
        self.window_end = self.window_start + MINUTE_SECONDS
        self.count = BeatCount()

    def run_beats(self) -> JobReport:
        """Call on the grid until the minute is over (and the successor is here); the run's report."""
        self.progress.step = "call"
        beat = self._next_grid_point(self.clock())
        while self._wait_for(beat):
            self._call(beat)
            beat = self._next_grid_point(self.clock(), after=beat)
        return self._report()

    def _next_grid_point(self, now: float, *, after: float | None = None) -> float:
        """The first beat at or after ``now`` (the later beats a call overran are skipped: logged once)."""
        beat = self.window_start + math.ceil(round(now - self.window_start, 6) / self.every) * self.every
        if after is not None:
            beat = max(beat, after + self.every)
        if after is not None and beat > after + self.every:
            # (the beats past the run's end belong to no run of its: the next minute's, or none)
            skipped = round((min(beat, self.window_end + HANDOVER_LIMIT) - after) / self.every) - 1
            if skipped <= 0:
                return beat
            if not self.count.busy_skips:
                self.log.warning(f"beat {self._label(after + self.every)} skipped: the call of {self._label(after)} "
                                 f"was still running (one call at a time; further skips are counted, not logged)")
            self.count.busy_skips += skipped
        return beat

    def _wait_for(self, beat: float) -> bool:
        """Sleep until ``beat``; False when the run is over first (its minute ended and the successor came,
        or the handover limit passed). Past its minute the run looks for its successor while it waits."""
        if beat < self.window_end:
            self._sleep_until(beat)
            return True
        if beat >= self.window_end + HANDOVER_LIMIT or job_pause_state(self.job.name) is not None:
            return False  # nobody takes over: a paused job, a stopped engine, a replayed minute
        self._sleep_until(self.window_end)  # (a first beat far ahead: no successor to look for before then)
        while (remaining := beat - self.clock()) >= HANDOVER_MARGIN:
            if self._handed_over():
                return False
            self.sleep(min(remaining - HANDOVER_MARGIN, HANDOVER_POLL) or HANDOVER_POLL)
        self._sleep_until(beat)  # too close to the beat for the successor to take the lease in time: call it
        return True

    def _sleep_until(self, beat: float) -> None:
        while (remaining := beat - self.clock()) > 0:
            self.sleep(remaining)

    def _handed_over(self) -> bool:
        """A later run of the job waits for the lease: it takes over from the next grid point."""
        return JobRun.objects.filter(job=self.job.name, outcome=RunOutcome.RUNNING, pk__gt=self.run.pk).exists()

    def _call(self, beat: float) -> None:
        count = self.count
        count.first_beat = beat if count.first_beat is None else count.first_beat
        count.last_beat = beat
        try:
            with time_limit(timeout=self.job.options.timeout, run=self.run, on_kill=self.on_kill), \
                    tracking_progress():  # the function's own progress reports stay inside its call
                result = self.call()
        except Exception as exc:  # noqa: BLE001 — one call's failure fails the run, not the minute's other beats
            count.calls += 1
            count.failures += 1
            count.last_error = exc
            if isinstance(exc, JobFailed):
                count.items += max(0, exc.items_processed)
            if count.failures == 1:
                self.log.opt(exception=True).error(f"call of {self._label(beat)} raised {type(exc).__name__} "
                                                   "(further failures are counted, not logged)")
        else:
            items, message = read_result(result)
            count.calls += 1
            count.items += items
            count.last_message = message or count.last_message
        self.progress.chunks, self.progress.items = count.calls, count.items

    def _report(self) -> JobReport:
        count = self.count
        if count.calls:
            text = (f"{count.calls} call{'' if count.calls == 1 else 's'} every {self.every} s, "
                    f"{self._label(count.first_beat)} to {self._label(count.last_beat)}")
        else:
            text = ("0 calls: its minute was over before the run started (an interval job's beats are "
                    "never replayed)" if self.clock() >= self.window_end else "0 calls")
        if count.busy_skips:
            text += (f"; {count.busy_skips} beat{'' if count.busy_skips == 1 else 's'} skipped: "
                     "the call before was still running")
        if count.last_message:
            text += f"; last said: {count.last_message}"
        if count.failures:
            error = count.last_error
            raise JobFailed(f"{count.failures} of {count.calls} calls failed, the last with "
                            f"{type(error).__name__}: {error}; {text}", items_processed=count.items) from error
        return JobReport(items_processed=count.items, message=text)

    @staticmethod
    def _label(moment: float) -> str:
        return datetime.fromtimestamp(moment, UTC).astimezone(business_tz()).strftime("%H:%M:%S")


def take_over_lease(lease: JobLease, slot: datetime, *, clock: Callable[[], float] = time.time,
                    sleep: Callable[[float], None] = time.sleep) -> bool:
    """An interval run whose lease is held by an earlier minute's run waits for it to be handed over
    (see the module docstring), at most until its own minute is over. A holder running the same slot
    or a later one (a second start of this slot) is not waited for: the caller records the skip."""
    if lease.holder is None or lease.holder.run_id is None:
        return False
    holder_slot = JobRun.objects.filter(pk=lease.holder.run_id).values_list("slot", flat=True).first()
    if holder_slot is not None and holder_slot >= slot:
        return False
    deadline = (slot + timedelta(seconds=MINUTE_SECONDS)).timestamp()
    while clock() < deadline:
        sleep(HANDOVER_POLL)
        with uninterrupted():  # never stopped between taking the lease and knowing it
            if lease.acquire():
                return True
    return False
