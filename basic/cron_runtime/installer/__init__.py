"""Install this checkout's jobs into the user's crontab, and read them back — what django-crontab
0.7.1 does, without its silent failures (docs/cron.md, "Install on one host", has the whole story).

- ``locations``: this checkout's id, the crontab program, ``.cron.env``, the per-job output files;
- ``crontab_file``: ``crontab -l`` / ``crontab -`` with every exit code checked, read back after writing;
- ``lines``: this checkout's marked lines, built from CRONJOBS and recognised among other lines;
- ``env_file``: ``.cron.env``, the configuration cron's bare environment runs with;
- ``daemon``: whether a cron daemon runs on this host;
- ``commands``: the work of ``crontab add`` / ``remove`` and the drift report.
"""
from basic.cron_runtime.installer.commands import (
    InstallReport,
    crontab_drift,
    install,
    left_over_under_celery,
    uninstall,
)
from basic.cron_runtime.installer.crontab_file import (
    CRON_SPOOL_DIRS,
    CrontabError,
    read_crontab,
    wait_for_next_spool_second,
    write_crontab,
)
from basic.cron_runtime.installer.daemon import cron_daemon_pids, cron_daemon_running, crontab_user
from basic.cron_runtime.installer.env_file import (
    DOCUMENTED_VARIABLE,
    configuration_variables,
    env_file_variables,
    write_env_file,
)
from basic.cron_runtime.installer.lines import (
    MARKER,
    CrontabLine,
    build_line,
    current_lines,
    expected_lines,
    parse_line,
)
from basic.cron_runtime.installer.locations import (
    checkout_id,
    cron_output_path,
    crontab_program_found,
    env_file_path,
    log_write_problems,
    manual_output_path,
    send_output_to_cron_file,
)

__all__ = [
    "CRON_SPOOL_DIRS", "DOCUMENTED_VARIABLE", "MARKER", "CrontabError", "CrontabLine", "InstallReport",
    "build_line", "checkout_id", "configuration_variables", "cron_daemon_pids", "cron_daemon_running",
    "cron_output_path", "crontab_drift", "crontab_program_found", "crontab_user", "current_lines", "env_file_path",
    "env_file_variables", "expected_lines", "install", "left_over_under_celery", "log_write_problems",
    "manual_output_path", "parse_line", "read_crontab",
    "send_output_to_cron_file", "uninstall", "wait_for_next_spool_second", "write_crontab", "write_env_file",
]
