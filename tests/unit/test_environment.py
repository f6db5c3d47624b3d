"""The process environment every entry point prepares."""

from __future__ import annotations

import subprocess
import sys

from pipeline.config import PROJECT_ROOT

SCRIPT = """
import warnings
from pipeline import environment
environment.prepare({})
warnings.warn_explicit("unsupported Python", FutureWarning, "x.py", 1, module="google.api_core.x")
warnings.warn_explicit("a real problem", FutureWarning, "y.py", 1, module="pipeline.data.spans")
"""


def test_google_import_notices_stay_off_the_console_and_other_warnings_do_not() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "unsupported Python" not in done.stderr
    assert "a real problem" in done.stderr
