"""The acceptance statistics a real-editor test run left (``INFILL_LSP_STATS`` of its server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stored_acceptance(stats_file: Path) -> dict:
    """``infill-lsp stats --json`` of ``stats_file``: its totals (``all``; {} when empty)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lsp_server", "stats", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "INFILL_LSP_STATS": str(stats_file), "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout).get("all", {})
