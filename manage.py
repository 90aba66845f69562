#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms_test.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A setting refused at start-up (a variable's value, a missing secret) is the sysadmin's
        # to fix, not a bug: one line naming it. --traceback shows where, as Django does.
        if "--traceback" in sys.argv:
            raise
        sys.exit(f"configuration error: {exc}")


if __name__ == "__main__":
    main()
