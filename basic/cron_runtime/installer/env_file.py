"""``.cron.env``: the configuration of the shell that ran `crontab add`, for cron's bare environment."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar

import environ
from django.conf import settings

from basic.cron_runtime import conf
from basic.cron_runtime.running.faults import shown_path
from basic.cron_runtime.installer.crontab_file import CrontabError
from basic.cron_runtime.installer.locations import ENV_FILE_NAME, env_file_path


# A line of .env.example that documents a variable, set or commented out ("# NAME=value").
DOCUMENTED_VARIABLE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# Documented, but the crontab line sets them itself (build_line()).
ENV_FILE_EXCLUDED = {"OMS_ENV_FILE", "LOG_LEVEL"}


def _dotenv_values() -> dict[str, str]:
    """What the project's .env holds: those values need no copy, cron reads .env itself."""

    class Capture(environ.Env):
        ENVIRON: ClassVar[dict] = {}

    path = Path(settings.BASE_DIR) / ".env"
    if path.is_file():
        Capture.read_env(str(path), overwrite=True)
    return Capture.ENVIRON


def configuration_variables() -> set[str]:
    """Every variable the settings read: those .env.example documents (a test keeps the two equal)."""
    path = Path(settings.BASE_DIR) / ".env.example"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CrontabError(f"cannot read {shown_path(path)} ({exc.strerror or exc}): it lists the variables "
                           f"`crontab add` copies into {ENV_FILE_NAME}; restore it from the repository") from None
    return set(DOCUMENTED_VARIABLE.findall(text))


def env_file_variables() -> set[str]:
    """The variables .cron.env may hold: the settings' own, plus a site's CRON_ENV_EXTRA_VARIABLES."""
    return (configuration_variables() | set(conf.CRON_ENV_EXTRA_VARIABLES)) - ENV_FILE_EXCLUDED


def write_env_file() -> list[str]:
    """Write .cron.env (mode 0600) from this process's environment; returns the variable names.

    Values that come from .env are left out (cron reads .env too, and a later edit of .env
    must not be shadowed by an old copy). Values with a newline cannot be written and are
    skipped (a .env line holds one value).
    """
    from_dotenv, wanted = _dotenv_values(), env_file_variables()
    values = {key: value for key, value in sorted(os.environ.items())
              if key in wanted and "\n" not in value and from_dotenv.get(key) != value}
    path = env_file_path()
    body = ("# Written by `manage.py crontab add`: the environment cron's jobs run with. Do not commit.\n"
            + "".join(f"{key}='{value}'\n" for key, value in values.items()))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cron.env.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return list(values)
