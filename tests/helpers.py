"""Helpers shared by the whole test suite (fixtures live in conftest.py)."""
from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Browser tests save what a person would have seen here (git-ignored, kept by CI as artifacts).
SCREENSHOT_DIR = PROJECT_DIR / "logs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL that points a child process at the database the test is using."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("mysql"):
        user = settings_dict.get("USER") or "root"
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{password}" if password else user
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 3306
        return f"mysql://{auth}@{host}:{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"no DATABASE_URL form for {engine}")


def browser_login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def migrate_to(targets: list[tuple[str, str | None]] | None = None) -> None:
    """Migrate the test database to ``targets`` ((app, migration name or None) pairs); None: to the latest."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
