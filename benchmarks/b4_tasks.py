"""B4 tasks: lines of a real multi-file Python project that use a name defined in ANOTHER file of
the same project, masked one at a time.

    python -m benchmarks.b4_tasks            # fetch the project, print a summary of the tasks

Project: ``rich`` 15.0.0 from PyPI (the wheel, pure Python: ~80 modules with dense cross-module
use), downloaded once into ``benchmarks/.cache/b4/``. Task selection uses Python's own ``ast``
(not the index under test): a name bound by ``from <module of the project> import Name``
where that module defines ``Name`` at its top level (def, class or assignment); a line inside a
function body that uses the name and is a whole one-line statement (not an import, not a
def/class header, 8-120 characters) becomes a task: the line's text after its indentation is
masked, the cursor sits after the indentation. Seeded sample: at most ``PER_FILE`` per file.
"""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import REPO

PROJECT = "rich"
VERSION = "15.0.0"
CACHE = REPO / "benchmarks" / ".cache" / "b4"
PER_FILE = 5
DEFAULT_TASKS = 220


@dataclass(frozen=True)
class Task:
    task_id: str
    path: str  # relative to the project root
    line: int  # 0-based
    indent: str
    target: str  # the masked text (the line after its indentation)
    names: tuple[str, ...]  # the cross-file names the line uses


def project_root() -> Path:
    """The unpacked project (downloaded from PyPI on first use)."""
    root = CACHE / f"{PROJECT}-{VERSION}"
    if (root / PROJECT / "__init__.py").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"{PROJECT}=={VERSION}", "--no-deps",
         "--only-binary=:all:", "-d", str(CACHE), "-q"],
        check=True,
    )  # fmt: skip
    wheel = next(CACHE.glob(f"{PROJECT}-{VERSION}-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(f"{PROJECT}/"):
                archive.extract(member, root)
    return root


def _module_file(root: Path, importer: Path, module: str | None, level: int) -> Path | None:
    if level:
        base = importer.parent
        for _ in range(level - 1):
            base = base.parent
    else:
        if not module or not module.startswith(PROJECT):
            return None
        base = root
    parts = module.split(".") if module else []
    target = base.joinpath(*parts)
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if candidate.is_file() and candidate != importer:
            return candidate
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _cross_file_names(root: Path, path: Path, tree: ast.Module, defined: dict) -> set[str]:
    """Local names bound to a definition in another file of the project."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = _module_file(root, path, node.module, node.level)
        if source is None:
            continue
        for alias in node.names:
            if alias.name in defined.get(source, ()):
                found.add(alias.asname or alias.name)
    return found


def _candidates(root: Path, path: Path, defined: dict) -> list[Task]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    names = _cross_file_names(root, path, tree, defined)
    if not names:
        return []
    lines = text.split("\n")
    out: dict[int, Task] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for statement in ast.walk(func):
            if not isinstance(statement, ast.stmt) or statement is func:
                continue
            if isinstance(statement, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
                continue
            if statement.lineno != statement.end_lineno or hasattr(statement, "body"):
                continue  # multi-line statements and compound headers
            used = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and n.id in names}
            line = lines[statement.lineno - 1]
            target = line.strip()
            if not used or not 8 <= len(target) <= 120 or line.rstrip() != line:
                continue
            indent = line[: len(line) - len(line.lstrip())]
            rel = path.relative_to(root).as_posix()
            number = statement.lineno - 1
            out[number] = Task(
                f"{rel}:{number + 1}", rel, number, indent, target, tuple(sorted(used))
            )
    return [out[k] for k in sorted(out)]


def generate(count: int = DEFAULT_TASKS, seed: int = 0) -> tuple[Path, list[Task]]:
    root = project_root()
    files = sorted((root / PROJECT).rglob("*.py"))
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in files}
    defined = {p: _top_level_names(t) for p, t in trees.items()}
    by_file: dict[str, list[Task]] = defaultdict(list)
    for path in files:
        by_file[path.as_posix()] = _candidates(root, path, defined)
    rng = random.Random(seed)
    picked: list[Task] = []
    for tasks in by_file.values():
        picked.extend(rng.sample(tasks, min(PER_FILE, len(tasks))))
    if len(picked) > count:
        picked = rng.sample(picked, count)
    picked.sort(key=lambda t: (t.path, t.line))
    return root, picked


def masked(root: Path, task: Task) -> str:
    """The file with the task's line emptied after its indentation."""
    lines = (root / task.path).read_text(encoding="utf-8").split("\n")
    lines[task.line] = task.indent
    return "\n".join(lines)


def main() -> int:
    root, tasks = generate()
    files = {t.path for t in tasks}
    print(f"{PROJECT} {VERSION} at {root}: {len(tasks)} tasks in {len(files)} files")
    for task in tasks[:5]:
        print(json.dumps(asdict(task)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
