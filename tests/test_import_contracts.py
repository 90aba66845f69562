"""The import directions of pyproject.toml's [tool.importlinter] contracts, checked by `lint-imports`."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import PROJECT_DIR

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
ROOT_PACKAGES = ["basic", "order", "oms_conf", "oms_test"]


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
                          cwd=project, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project)},
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_code_keeps_every_import_contract():
    proc = lint_imports(PROJECT_DIR)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("module", "source", "broken"), [
    ("basic/services/wrong.py", "def f():\n    from order.models import Order\n",
     "The layers: oms_test above order above basic"),
    ("order/services/demo.py", "from oms_test.demo import demo_load\n",
     "The layers: oms_test above order above basic"),
    ("order/services/payment.py", "def f():\n    from order.learning.services import enrollments\n",
     "order does not import its courses (order.learning)"),
    ("basic/cron_runtime/wrong.py", "import order.selectors\n",
     "The cron runtime does not import order"),
    ("basic/cron_runtime/wrong.py", "def f():\n    from basic.services import points\n",
     "The cron runtime does not import basic's business modules"),
    ("basic/cron_runtime/running/runner.py", "def f():\n    from basic.cron_runtime.console import views\n",
     "The cron runtime's rooms import downwards"),
    ("basic/cron_runtime/timed_tasks/dispatcher.py", "from basic.cron_runtime.installer import current_lines\n",
     "The cron runtime's rooms import downwards"),
    ("oms_test/gateway/services.py", "def f():\n    from order.models import Order\n",
     "The simulated gateway imports nothing of the shop"),
    ("order/services/gateway_client.py", "from oms_test.gateway.models import GatewayPayment\n",
     "The shop reaches the gateway only over HTTP"),
])
def test_a_wrong_import_breaks_its_contract(tmp_path, module, source, broken):
    """The same contracts on a copy of the code with one wrong import added (at module level or in a function)."""
    for package in ROOT_PACKAGES:
        shutil.copytree(PROJECT_DIR / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "templates", "static"))
    shutil.copy(PROJECT_DIR / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text((target.read_text() if target.exists() else "") + "\n" + source)
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert f"{broken} BROKEN" in proc.stdout, proc.stdout + proc.stderr
