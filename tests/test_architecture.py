"""The layering holds: import-linter's contracts (pyproject.toml [tool.importlinter]) pass, so
governance imports neither accounts nor policies, accounts does not import policies, and no API
module imports an admin module. `make lint` runs the same check."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
