""".env.example lists every environment variable the code reads, each with a comment, and no other.

The code is scanned (not a hand-kept list), so a new ``env.str("X")`` or ``os.environ.get("X")``
anywhere in the project fails this test until ``.env.example`` documents ``X``.
"""
from __future__ import annotations

import ast
from pathlib import Path

from basic.cron_runtime.installer import DOCUMENTED_VARIABLE
from tests.helpers import PROJECT_DIR

# Read by the code but not configuration a user sets in .env: each with why.
NOT_CONFIGURATION = {
    "DJANGO_SETTINGS_MODULE": "Django's own; manage.py and wsgi.py set it, the crontab line names it",
    "OMS_TEST_RUN_DIR": "the test settings' per-run folder, handed to child processes",
    "OMS_TEST_REDIS_DB": "the test settings' Redis database for the Celery engine's tests (10-13)",
}
# Test code and benchmarks read their own variables (fixtures, BENCH_DATABASE_URL): not the site's.
NOT_SCANNED = {".venv", "tests", "benchmarks", "node_modules", "var", "logs", ".git"}
ENV_FILE = PROJECT_DIR / ".env.example"
LISTED = DOCUMENTED_VARIABLE  # what `crontab add` reads off .env.example too


def python_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py")
                  if not NOT_SCANNED.intersection(path.relative_to(root).parts[:-1])
                  and path.name != "conftest.py")


def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def env_vars_read(source: str) -> set[str]:
    """Names the code reads from the environment, in every form the project uses:
    ``env.<cast>("X")`` / ``env("X")`` (django-environ), helpers named ``env_*("X", …)``,
    ``os.environ.get/setdefault/pop("X")``, ``os.getenv("X")``, ``os.environ["X"]`` and ``"X" in os.environ``."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func, name = node.func, _first_string(node)
            if name is None:
                continue
            if isinstance(func, ast.Name) and (func.id == "env" or func.id.startswith("env_")):
                names.add(name)
            elif isinstance(func, ast.Attribute):
                owner = func.value
                if isinstance(owner, ast.Name) and owner.id == "env":
                    names.add(name)
                elif _is_os_environ(owner) and func.attr in {"get", "setdefault", "pop"}:
                    names.add(name)
                elif isinstance(owner, ast.Name) and owner.id == "os" and func.attr == "getenv":
                    names.add(name)
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value) and isinstance(node.ctx, ast.Load):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                names.add(node.slice.value)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            if _is_os_environ(node.comparators[0]) and isinstance(node.left, ast.Constant):
                names.add(node.left.value)
    return names


def env_vars_in_code(root: Path = PROJECT_DIR) -> dict[str, list[str]]:
    """Variable name -> the files that read it (paths relative to ``root``)."""
    found: dict[str, list[str]] = {}
    for path in python_files(root):
        for name in env_vars_read(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(root)))
    return found


def listed_vars(text: str) -> dict[str, bool]:
    """Variables in an .env.example text (``X=…`` or commented ``# X=…``) -> whether it has a comment:
    on its own line (``X=1  # why``), or in the prose comment lines just above it (a block of
    variables may share one)."""
    listed: dict[str, bool] = {}
    described = False
    for line in text.splitlines():
        stripped = line.strip()
        match = LISTED.match(stripped)
        if match:
            listed.setdefault(match.group(1), described or " # " in stripped.split("=", 1)[1])
        elif stripped.startswith("#"):
            described = True
        else:  # a blank line ends the block the comment was about
            described = False
    return listed


def drift(code: set[str], listed: set[str]) -> tuple[list[str], list[str]]:
    """(read by the code but not listed, listed but read by nothing)."""
    wanted = code - set(NOT_CONFIGURATION)
    return sorted(wanted - listed), sorted(listed - wanted)


def test_env_example_lists_exactly_the_variables_the_code_reads():
    code = env_vars_in_code()
    listed = listed_vars(ENV_FILE.read_text(encoding="utf-8"))
    missing, stale = drift(set(code), set(listed))
    assert not missing, "read by the code, missing from .env.example: " + ", ".join(
        f"{name} ({', '.join(code[name])})" for name in missing)
    assert not stale, f"listed in .env.example but read by no code: {', '.join(stale)}"
    undocumented = [name for name, has_comment in listed.items() if not has_comment]
    assert not undocumented, f"no comment explains: {', '.join(undocumented)}"


def test_a_variable_missing_from_env_example_is_reported():
    """The check above can fail: drop one line of the real file and it names that variable."""
    text = ENV_FILE.read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if not LISTED.match(line.strip()) or
                        LISTED.match(line.strip()).group(1) != "LOG_LEVEL")
    missing, _ = drift(set(env_vars_in_code()), set(listed_vars(without)))
    assert missing == ["LOG_LEVEL"]


def test_every_form_of_reading_the_environment_is_found():
    source = """
import os
A = env.str("A_STR", default="")
B = env("B_CALL")
C = os.environ.get("C_GET")
D = os.environ["D_ITEM"]
E = os.getenv("E_GETENV")
if "F_IN" in os.environ:
    G = env_int_at_least("G_HELPER", default=1, minimum=0, why="")
os.environ["NOT_A_READ"] = "x"
H = env.db_url_config(os.environ.get("H_URL") or "sqlite://")
"""
    assert env_vars_read(source) == {"A_STR", "B_CALL", "C_GET", "D_ITEM", "E_GETENV", "F_IN", "G_HELPER", "H_URL"}


def test_a_variable_without_a_comment_is_reported():
    listed = listed_vars("# Database\nDATABASE_URL=sqlite://\n\nLONELY=1\nSAID=2  # why it is here\n")
    assert listed == {"DATABASE_URL": True, "LONELY": False, "SAID": True}
