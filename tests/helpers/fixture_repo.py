"""A small multi-file Python repository, with ignored, vendored, secret and binary files, for
the index, retrieval and repository-context tests."""

from __future__ import annotations

from pathlib import Path

import pytest

MODELS = '''"""Data models."""

MAX_USERS = 100


class User:
    """A registered user."""

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email

    def display_name(self) -> str:
        return self.name.title()

    def is_admin(self) -> bool:
        return self.email.endswith("@admin.example")
'''
UTILS = '''import re


def slugify(text: str) -> str:
    """Lower-case, dashes for spaces."""
    return re.sub(r"\\s+", "-", text.strip().lower())
'''
DB = '''def connect(url: str, timeout: float = 5.0):
    """Open a connection."""
    return (url, timeout)
'''
MAIN = """from app.models import User
from .utils import slugify
import app.db as db


def register(name, email):
    conn = db.connect("sqlite://")
    user = User(name, email)
    slug = slugify(name)
    return user
"""


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body)


def make_repo(root: Path) -> Path:
    write(
        root,
        {
            "app/__init__.py": "",
            "app/models.py": MODELS,
            "app/utils.py": UTILS,
            "app/db.py": DB,
            "app/main.py": MAIN,
            ".gitignore": "generated/\n*.gen.py\n",
            ".infillignore": "private_notes.py\n",
            "generated/api.py": "def generated_api():\n    pass\n",
            "app/schema.gen.py": "def gen():\n    pass\n",
            "private_notes.py": "def private():\n    pass\n",
            "app/sub/.gitignore": "local.py\n",
            "app/sub/local.py": "def local_only():\n    pass\n",
            "app/sub/kept.py": "def kept():\n    pass\n",
            "node_modules/lib/index.js": "function vendored() {}\n",
            ".venv/lib/site.py": "def venv():\n    pass\n",
            ".env": "API_KEY=sk-live-123\n",
            "config/credentials.py": "PASSWORD = 'hunter2'\n",
            "keys/server.pem": "-----BEGIN PRIVATE KEY-----\n",
            "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            "blob.py": b"\x00\x01binary",
            "big.py": "x = 1\n" * 200_000,
            "README.md": "# not code we index\n",
            "web/app.ts": "export function greet(name: string): string {\n  return name\n}\n",
        },
    )
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """The fixture repository under tmp_path, with the index store in tmp_path too."""
    monkeypatch.setenv("INFILL_LSP_INDEX_DIR", str(tmp_path / "index"))
    return make_repo(tmp_path / "repo")
