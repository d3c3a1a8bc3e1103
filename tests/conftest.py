"""Fixtures and environment shared across the test folders."""

import os
import tempfile

from tests.helpers.fixture_repo import repo  # noqa: F401  (the fixture repository)

# Servers started by the tests (LSP, editors) keep their workspace index stores in a scratch
# folder, not in the user's cache.
os.environ.setdefault("INFILL_LSP_INDEX_DIR", tempfile.mkdtemp(prefix="infill-test-index-"))
# ...and their acceptance statistics too.
os.environ.setdefault(
    "INFILL_LSP_STATS",
    os.path.join(tempfile.mkdtemp(prefix="infill-test-stats-"), "stats.sqlite3"),
)
