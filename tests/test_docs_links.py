"""No document points to something that is not in the repository: every relative link of README.md and
docs/ (file and heading), every backticked repository path (`basic/cron.py`, `docs/systemd/`) and every
backticked dotted path into the project's code (`order.cron.cancel_timeouts`) exists."""
from __future__ import annotations

import ast
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.helpers import PROJECT_DIR

DOCUMENTS = sorted([PROJECT_DIR / "README.md", *(PROJECT_DIR / "docs").rglob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
# Folders the site writes at run time (logs, caches, mail): named in the documents, never in the repository.
WRITTEN_AT_RUN_TIME = {"logs", "var"}
PLACEHOLDER = re.compile(r"[<>*{}…$=\s]|\.\.\.")
PACKAGES = ("basic", "order", "oms_test", "oms_conf", "tests", "benchmarks", "scripts")


@cache
def tracked_top_level() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True).stdout
    return {line.split("/", 1)[0] for line in files.splitlines()}


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces as '-'."""
    anchors, in_fence = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := re.match(r"#{1,6}\s+(.*)", line)):
            title = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1).strip()).lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def link_problem(document: Path, target: str) -> str | None:
    if re.match(r"^[a-z][a-z+.-]*:", target):  # https:, mailto:
        return None
    path_part, _, anchor = target.partition("#")
    path = (document.parent / path_part).resolve() if path_part else document
    if not path.exists():
        return f"links to {target}, which does not exist"
    if anchor and path.suffix == ".md" and anchor not in heading_anchors(path):
        return f"links to {target}: {path.name} has no heading #{anchor}"
    return None


def defines(module_path: Path, name: str) -> bool:
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False


def dotted_problem(dotted: str) -> str | None:
    """`package.module.name`: the longest prefix that is a module or package, then a name it defines.
    A package and a name that is no module (`order.id`, a field; `order.0005`, a migration) is not a path."""
    parts = dotted.split(".")
    if not any(PROJECT_DIR.joinpath(*parts[:2]).with_suffix(suffix).exists() for suffix in (".py", "")):
        return None
    for cut in range(len(parts), 0, -1):
        base = PROJECT_DIR.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if module.is_file():
            rest = parts[cut:]
            if rest and not defines(module, rest[0]):
                return f"names {dotted}, but {module.relative_to(PROJECT_DIR)} defines no {rest[0]}"
            return None
    return f"names {dotted}, which is no module of the project"


def code_problem(text: str) -> str | None:
    token = text.split("::", 1)[0].split("#", 1)[0].rstrip(":,.")
    if PLACEHOLDER.search(token) or "://" in token or not token:
        return None
    first = token.split("/", 1)[0]
    if "/" in token and first in tracked_top_level() and first not in WRITTEN_AT_RUN_TIME:
        return None if (PROJECT_DIR / token).exists() else f"names {token}, which does not exist"
    if "/" not in token and re.fullmatch(rf"(?:{'|'.join(PACKAGES)})(?:\.\w+)+", token):
        return dotted_problem(token)
    return None


def document_problems(document: Path) -> list[str]:
    problems, in_fence = [], False
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        found = [link_problem(document, target) for target in LINK.findall(line)]
        found += [code_problem(text) for text in CODE.findall(line)]
        problems += [f"{document.relative_to(PROJECT_DIR)}:{number}: {problem}" for problem in found if problem]
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_link_and_path_in_the_documents_exists(document):
    assert document_problems(document) == []


def test_a_missing_file_a_missing_heading_and_a_stale_function_are_reported(tmp_path):
    document = PROJECT_DIR / "docs" / "cron.md"  # links resolve beside it
    assert link_problem(document, "ANCHORS.md") == "links to ANCHORS.md, which does not exist"
    assert link_problem(document, "jobs.md#no-such-heading") == "links to jobs.md#no-such-heading: jobs.md has no heading #no-such-heading"
    assert link_problem(document, "jobs.md") is None and link_problem(document, "https://example.com/x") is None
    assert code_problem("basic/no_such_module.py") == "names basic/no_such_module.py, which does not exist"
    assert code_problem("logs/crontab/heartbeat.log") is None  # written at run time
    assert code_problem("basic.cron.heartbeat") == "names basic.cron.heartbeat, but basic/cron.py defines no heartbeat"
    assert code_problem("order.cron.cancel_timeouts") is None
