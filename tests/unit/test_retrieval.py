"""Cross-file context for one completion (retrieval) and how it enters the prompt (builder),
on the fixture repository of test_index."""

from __future__ import annotations

from pathlib import Path

from lsp_server.context.retrieval import Retriever
from lsp_server.context.types import Context, Snippet
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.prompt.builder import build_fim_prompt
from lsp_server.prompt.fim import FimDialect
from tests.helpers.fixture_repo import MAIN, write


def words(text: str) -> int:
    return len(text.split())


def retrieve(repo: Path, text: str, cursor: str, budget: int = 400, **extra_files):
    write(repo, extra_files)
    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(repo))
    path = str(repo / "app" / "main.py")
    index.set_live(path, text, "python")
    offset = text.index(cursor) + len(cursor)
    return Retriever(index, words).retrieve(path, text, offset, budget, time_budget_ms=1000)


def test_identifiers_near_the_cursor_resolve_through_imports(repo: Path):
    text = MAIN.replace("    return user\n", "    user.\n")
    found = retrieve(repo, text, "    user.")
    paths = [s.path for s in found]
    assert paths[:3] == ["app/utils.py", "app/models.py", "app/db.py"], paths  # closest first
    assert found[0].text.startswith("def slugify(text: str) -> str:")
    user = found[1].text
    assert user.startswith("class User:") and "def is_admin(self) -> bool:" in user
    assert found[2].text.startswith("def connect(url: str, timeout: float = 5.0):")
    assert all(s.kind == "definition" for s in found[:3])


def test_a_long_definition_is_shown_as_an_outline(repo: Path):
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(12))
    big = '''class User:\n    """A registered user."""\n\n''' + methods
    write(repo, {"app/models.py": big})
    found = retrieve(repo, MAIN, "    user = User(")
    (user,) = [s for s in found if s.path == "app/models.py"]
    assert user.text.split("\n")[:3] == [
        "class User:",
        '    """A registered user."""',
        "    def m0(self): ...",
    ]
    assert "return 3" not in user.text


def test_nothing_the_document_already_holds_and_nothing_over_budget(repo: Path):
    text = DEF_SLUGIFY + MAIN.replace("from .utils import slugify\n", "")
    found = retrieve(repo, text, "    slug = slugify(")
    assert all("def slugify" not in s.text for s in found)
    assert sum(words(s.text) + 8 for s in retrieve(repo, MAIN, "    user = User(", 30)) <= 30


DEF_SLUGIFY = '''def slugify(text: str) -> str:
    """Lower-case, dashes for spaces."""
    return re.sub(r"\\s+", "-", text.strip().lower())
'''


def test_bare_names_resolve_through_the_symbol_table_and_similar_code_is_found(repo: Path):
    extra = {
        "app/report.py": (
            "def render_report(rows, title):\n"
            "    header = format_header(title)\n"
            "    body = [format_row(row) for row in rows]\n"
            "    return header + body\n"
        ),
        "app/format.py": "def format_header(title):\n    return title.upper()\n",
    }
    text = (
        "def summary(rows, title):\n"
        "    header = format_header(title)\n"
        "    body = [format_row(row) for row in rows]\n    "
    )
    write(repo, extra)
    index = WorkspaceIndex(persist=False)
    index.scan(index.add_folder(repo))
    path = str(repo / "app" / "main.py")
    index.set_live(str(repo / "app" / "report.py"), extra["app/report.py"], "python")
    index.set_live(path, text, "python")
    found = Retriever(index, words).retrieve(path, text, len(text), 400, 1000)
    kinds = {(s.path, s.kind) for s in found}
    assert ("app/format.py", "definition") in kinds  # no import: the symbol table
    assert ("app/report.py", "similar") in kinds or ("app/report.py", "definition") in kinds


def test_ignored_and_secret_files_never_appear(repo: Path):
    text = (
        "from generated.api import generated_api\nimport private_notes\n\n"
        "generated_api()\nprivate_notes.private()\nPASSWORD\n"
    )
    found = retrieve(repo, text, "PASSWORD")
    assert found == ()


# -- the prompt ------------------------------------------------------------------------------
QWEN = FimDialect("qwen", 1, 2, 3, frozenset(), repo_name_id=4, file_sep_id=5)
STARCODER = FimDialect("starcoder", 1, 2, 3, frozenset(), repo_name_id=4, file_sep_id=5)
PLAIN = FimDialect("codellama", 1, 2, 3, frozenset())
SNIPPETS = (
    Snippet("app/models.py", "class User: ...", "definition"),
    Snippet("app/utils.py", "def slugify(text): ...", "definition"),
    Snippet("app/models.py", "MAX_USERS = 100", "definition"),
)


def chars(text: str) -> list[int]:
    return [ord(c) for c in text]


def render(ids: list[int]) -> str:
    names = {1: "<P>", 2: "<S>", 3: "<M>", 4: "<R>", 5: "<F>"}
    return "".join(names.get(i, chr(i)) for i in ids)


def ctx(extra=SNIPPETS) -> Context:
    return Context(
        "x = 1\n    ", "\nrest", "python", extra=extra, repo="shop", path="app/main.py", head=4
    )


def test_qwen_repository_format_puts_other_files_first_and_names_this_one():
    assert render(build_fim_prompt(ctx(), QWEN, chars)) == (
        "<R>shop\n"
        "<F>app/models.py\nclass User: ...\n\nMAX_USERS = 100\n"
        "<F>app/utils.py\ndef slugify(text): ...\n"
        "<F>app/main.py\n"
        "<P>x = 1\n<S>\nrest<M>"
    )


def test_starcoder2_names_the_file_inside_its_prefix():
    assert render(build_fim_prompt(ctx(), STARCODER, chars)).endswith(
        "<F>app/utils.py\ndef slugify(text): ...\n<F><P>app/main.py\nx = 1\n<S>\nrest<M>"
    )


def test_models_without_a_repo_format_get_commented_snippets_and_no_snippets_no_change():
    assert render(build_fim_prompt(ctx(), PLAIN, chars)) == (
        "<P># app/models.py\n# class User: ...\n#\n# MAX_USERS = 100\n\n"
        "# app/utils.py\n# def slugify(text): ...\n\nx = 1\n<S>\nrest<M>"
    )
    assert render(build_fim_prompt(ctx(()), QWEN, chars)) == "<P>x = 1\n<S>\nrest<M>"


def test_prompt_format_repo_names_the_file_even_without_snippets():
    assert render(build_fim_prompt(ctx(()), QWEN, chars, repo_format=True)) == (
        "<R>shop\n<F>app/main.py\n<P>x = 1\n<S>\nrest<M>"
    )
    # a model without a repository-level format: the plain FIM prompt
    assert render(build_fim_prompt(ctx(()), PLAIN, chars, repo_format=True)) == (
        "<P>x = 1\n<S>\nrest<M>"
    )


def test_a_definition_over_the_remaining_budget_is_cut_not_dropped(repo: Path):
    text = MAIN.replace("    return user\n", "    user = User(\n")
    found = retrieve(repo, text, "    user = User(", budget=30)
    (user,) = [s for s in found if s.path == "app/models.py"]
    assert user.text.startswith("class User:") and user.text.endswith("    ...")
    assert words(user.text) + 8 <= 30


def test_imported_project_names_come_next_nearest_use_first(repo: Path):
    # The cursor line is the first to use anything: the imports still bring their APIs.
    text = MAIN.split("\n\n\n")[0] + "\n\n\ndef fresh():\n    "
    found = retrieve(repo, text, "def fresh():\n    ")
    assert {s.path for s in found} >= {"app/models.py", "app/utils.py"}


def test_a_bare_name_never_resolves_to_a_member_or_to_a_word_of_a_docstring(repo: Path):
    # ``display_name`` is only a method of User; ``slugify`` is named in prose only.
    text = (
        "def show(display_name):\n"
        '    """Print it; see slugify for the rules."""\n'
        "    label = f'{display_name}'  # slugify later\n"
        "    "
    )
    found = retrieve(repo, text, "# slugify later\n    ")
    assert found == (), found


def test_an_outline_lists_the_members_the_document_uses_first(repo: Path):
    methods = "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(12))
    write(
        repo,
        {
            "app/models.py": "class User:\n    def __init__(self, n):\n        self.n = n\n\n"
            + methods
        },
    )
    text = MAIN.replace("    return user\n", "    user.m9()\n    user.m7()\n    return user\n")
    found = retrieve(repo, text, "    slug = slugify(name)\n")
    (user,) = [s for s in found if s.path == "app/models.py"]
    lines = user.text.split("\n")
    # m9 and m7, then the constructor (the class is called two lines up): nearest the cursor
    # first; then a few of the others in source order, not all twelve
    assert lines[1:5] == [
        "    def m9(self): ...",
        "    def m7(self): ...",
        "    def __init__(self, n): ...",
        "    def m0(self): ...",
    ], lines
    assert len(lines) < 12


def test_a_module_importing_itself_is_not_its_own_context(repo: Path):
    text = MAIN + '\n\nif __name__ == "__main__":\n    from app.main import register\n'
    found = retrieve(repo, text, "    user = User(")
    assert all(s.path != "app/main.py" for s in found)


def test_imports_rank_by_uses_near_the_cursor_only():
    """A use thousands of lines away says nothing about the line being written: names used
    within NEAR_CHARS of the cursor come first (nearest first), the others in import order."""
    from lsp_server.context.retrieval import NEAR_CHARS, _by_nearest_use
    from lsp_server.index.symbols import Import

    imports = [Import("other", "pkg.b", "other"), Import("far", "pkg.a", "far"),
               Import("near", "pkg.c", "near")]  # fmt: skip
    filler = "x = 1\n" * (NEAR_CHARS // 6 + 50)
    text = "from pkg.a import far\nfar()\n" + filler + "def f():\n    near()\n    \n"
    ranked = _by_nearest_use(imports, text, len(text) - 1)
    assert [i.local for i in ranked] == ["near", "other", "far"]  # far: as if never used
    text = text.replace("far()", "x = 2").replace("    near()", "    far()\n    near()")
    ranked = _by_nearest_use(imports, text, len(text) - 1)
    assert [i.local for i in ranked] == ["near", "far", "other"]
