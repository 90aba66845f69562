"""`manage.py check`: Django's own checks, told the way a sysadmin reads faults — one line each.

Django prints a page per run (a header, a section per level, a hint on a line of its own, a
footer); here each issue is one line, ``<id> <object>: <message> (<hint>)``, followed by the
count. A database that cannot be reached (``--database``) is one line too, as in the runtime's
other commands. The exit codes are Django's.
"""
from __future__ import annotations

from django.core import checks
from django.core.management.base import SystemCheckError
from django.core.management.commands.check import Command as DjangoCheckCommand

from basic.cron_runtime.running.command import RuntimeCommand


def issue_line(issue: checks.CheckMessage) -> str:
    where = "" if issue.obj is None else f" {issue.obj}"
    hint = f" ({issue.hint})" if issue.hint else ""
    return f"{issue.id}{where}: {issue.msg}{hint}"


class Command(RuntimeCommand, DjangoCheckCommand):
    def check(self, app_configs=None, tags=None, display_num_errors=False, include_deployment_checks=False,
              fail_level=checks.ERROR, databases=None):
        issues = checks.run_checks(app_configs=app_configs, tags=tags,
                                   include_deployment_checks=include_deployment_checks, databases=databases)
        visible = sorted((issue for issue in issues if not issue.is_silenced()),
                         key=lambda issue: (-issue.level, issue.id or ""))
        silenced = len(issues) - len(visible)
        count = f"{len(visible)} issue{'s' if len(visible) != 1 else ''}" if visible else "no issues"
        footer = f"System check identified {count} ({silenced} silenced)."
        lines = [self.style.ERROR(issue_line(issue)) if issue.is_serious() else self.style.WARNING(issue_line(issue))
                 for issue in visible]
        if any(issue.is_serious(fail_level) for issue in visible):
            raise SystemCheckError("\n".join([*lines, footer]))
        if lines:
            self.stderr.write("\n".join([*lines, footer] if display_num_errors else lines), lambda text: text)
        elif display_num_errors:
            self.stdout.write(footer)
