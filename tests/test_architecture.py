"""The import direction of docs/architecture.md, checked on the code as it is.

Two checks: import-linter's layers contract (pyproject.toml), which fails when the base
layer imports an app, when ``repositories`` imports ``hooks``, or when any layer imports one
above it; and a walk over every function body of our apps for imports of our own modules,
which must each be on the allow-list below with the reason they are not at the top of the
file (never to dodge an import cycle: the contract above would catch the cycle anyway).
"""

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

APPS = (
    "accounts", "archives", "borgui", "common", "configuration", "hooks", "notifications", "packages_admin",
    "repositories", "system",
)  # fmt: skip

# (file, imported module): why the import is inside a function.
ALLOWED_FUNCTION_IMPORTS = {
    # AppConfig.ready: models and signals can be imported only once the app registry is ready.
    ("repositories/apps.py", "repositories"): "app registry (signals)",
    ("repositories/apps.py", "repositories.services"): "app registry (steps)",
    ("hooks/apps.py", "repositories.services"): "app registry (steps)",
    ("system/apps.py", "repositories.services"): "app registry (steps)",
    ("notifications/apps.py", "repositories.services"): "app registry (steps)",
    ("notifications/apps.py", "archives.signals"): "app registry (signals)",
    ("notifications/apps.py", "notifications.services"): "app registry (signals)",
    ("accounts/apps.py", "accounts.roles"): "app registry (signals)",
    ("accounts/apps.py", "accounts.users"): "app registry (signals)",
    # Management commands import their work in handle(), so `--help` and a usage error
    # answer without loading models and services (test_run_backup checks start-up).
    ("repositories/management/commands/run_backup.py", "repositories.models"): "start-up",
    ("repositories/management/commands/run_backup.py", "repositories.services"): "start-up",
    ("repositories/management/commands/run_backup.py", "repositories.status"): "start-up",
    ("repositories/management/commands/recover_runs.py", "repositories.services.recovery"): "start-up",
    ("hooks/management/commands/test_script.py", "hooks.models"): "start-up",
    ("hooks/management/commands/test_script.py", "hooks.services.testing"): "start-up",
    ("hooks/management/commands/test_script.py", "repositories.models"): "start-up",
    ("configuration/management/commands/apply_config.py", "configuration.apply"): "start-up",
    ("configuration/management/commands/apply_config.py", "configuration.load"): "start-up",
    ("configuration/management/commands/apply_config.py", "configuration.problems"): "start-up",
    ("configuration/management/commands/export_config.py", "configuration.export"): "start-up",
    ("archives/apps.py", "archives"): "app registry (signals)",
    ("archives/apps.py", "repositories.services"): "app registry (steps)",
    ("archives/management/commandkit.py", "archives.services"): "start-up",
    ("archives/management/commandkit.py", "archives.services.catalog"): "start-up",
    ("archives/management/commandkit.py", "repositories.borg"): "start-up",
    ("archives/management/commandkit.py", "repositories.models"): "start-up",
    ("archives/management/commandkit.py", "repositories.services.leases"): "start-up",
    ("archives/management/commands/browse_archive.py", "archives.services"): "start-up",
    ("archives/management/commands/delete_archive.py", "archives.services"): "start-up",
    ("archives/management/commands/diff_archives.py", "archives.services"): "start-up",
    ("archives/management/commands/download_archive.py", "archives.services"): "start-up",
    ("archives/management/commands/list_archives.py", "archives.services"): "start-up",
    ("archives/management/commands/recovery_kit.py", "archives.services.recovery_kit"): "start-up",
    ("archives/management/commands/recovery_kit.py", "repositories.models"): "start-up",
    ("archives/management/commands/restore.py", "archives.models"): "start-up",
    ("archives/management/commands/restore.py", "archives.services"): "start-up",
    ("archives/management/commands/restore.py", "repositories.models"): "start-up",
    ("notifications/management/commands/notify_test.py", "notifications.models"): "start-up",
    ("notifications/management/commands/notify_test.py", "notifications.services"): "start-up",
    # Migrations pass their historical models; only a caller outside one gets the real ones.
    ("hooks/docker_templates.py", "hooks.models"): "migrations",
}


def _function_imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield node.lineno, node.module
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield node.lineno, alias.name


def _our_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_import_layers_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_no_function_imports_our_modules_unless_allowed():
    found = []
    for path in _our_modules():
        relative = path.relative_to(ROOT).as_posix()
        for line, module in _function_imports(path):
            if module.split(".")[0] in APPS and (relative, module) not in ALLOWED_FUNCTION_IMPORTS:
                found.append(f"{relative}:{line} imports {module} inside a function")
    assert found == []


def test_the_allow_list_names_only_imports_that_exist():
    present = set()
    for path in _our_modules():
        relative = path.relative_to(ROOT).as_posix()
        present |= {(relative, module) for _, module in _function_imports(path)}
    assert sorted(set(ALLOWED_FUNCTION_IMPORTS) - present) == []
