"""The base of the runtime's commands (`crontab`, `cronjobs`): faults in one line, stops recorded.

- A fault of the environment (database unreachable or refusing, a log folder that cannot be
  written; see faults.py) becomes one ``CommandError`` line and exit 1, instead of a traceback.
  ``--traceback`` shows the full one, as for any Django command. Anything else is a bug and
  keeps its traceback.
- SIGTERM and Ctrl-C stop the command in order (stopping.py): the runner records the run as
  terminated and the process prints one line, then exits 143 (SIGTERM) or 130 (Ctrl-C).
"""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from basic.cron_runtime.running.faults import environment_fault
from basic.cron_runtime.running.stopping import Stopped, finished, stop_on_signals


class RuntimeCommand(BaseCommand):
    whole_process = False  # started as `manage.py …`, not called in another process (call_command)

    def run_from_argv(self, argv):
        # The command is the process: its signal handlers stay until exit, so a signal after
        # the work is done is ignored instead of killing the process on its way out.
        self.whole_process = True
        super().run_from_argv(argv)

    def execute(self, *args, **options):
        with stop_on_signals(restore=not self.whole_process):
            try:
                result = super().execute(*args, **options)
            except Stopped as stop:
                finished()  # a second signal must not cut the line short
                self.stderr.write(stop.line or f"{self.command_name()}: stopped by {stop.signal_name}")
                sys.exit(stop.exit_code)
            except CommandError:
                raise
            except Exception as exc:
                line = environment_fault(exc)
                if line is None:
                    raise  # a bug: the traceback is what it takes to fix it
                raise CommandError(line) from exc
            finally:
                finished()
        return result

    def command_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]
