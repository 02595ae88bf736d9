"""The linters are tests: ruff (rules and Python 3.9 syntax) and mypy (types),
both configured in pyproject.toml."""

import shutil
import subprocess
import sys

from tests.conftest import REPO, require


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        require(False, "ruff is not installed (pip install ruff)")
    return [sys.executable, "-m", "ruff"]


def test_ruff_check():
    result = subprocess.run([*_ruff(), "check", "--no-cache", str(REPO)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sources_compile_on_this_python():
    result = subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "adjutant")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_no_type_errors():
    try:
        import mypy  # noqa: F401
    except ImportError:
        require(False, "mypy is not installed (pip install mypy)")
    result = subprocess.run([sys.executable, "-m", "mypy", str(REPO / "adjutant")],
                            capture_output=True, text=True, check=False, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
