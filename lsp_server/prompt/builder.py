"""Context -> prompt token ids, in the model's own FIM dialect.

Without cross-file snippets: ``<prefix> ABOVE <suffix> SUFFIX <middle> HEAD``.

With snippets, in the model's repository-level format when its vocabulary has one:
- Qwen2.5-Coder: ``<|repo_name|>repo\\n<|file_sep|>a.py\\n...\\n<|file_sep|>this.py\\n`` then
  the FIM prompt;
- StarCoder2: ``<repo_name>repo<file_sep>a.py\\n...<file_sep><fim_prefix>this.py\\n...`` (its
  file path goes inside the prefix);
- any other model: the snippets as comments (with their paths) in front of the prefix.

The snippets come first, so they stay in the KV cache as long as they do not change (the
completer keeps them per anchor).
"""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.context.types import Context, Snippet
from lsp_server.prompt.fim import FimDialect

Tokenize = Callable[[str], list[int]]

LINE_COMMENT = {"python": "#", "ruby": "#", "bash": "#", "lua": "--", "sql": "--"}


def build_fim_prompt(
    ctx: Context,
    dialect: FimDialect,
    tokenize: Tokenize,
    bos_id: int | None = None,
    repo_format: bool = False,
) -> list[int]:
    """The prompt for ``ctx``; the answer follows its last token. ``repo_format``: the
    repository-level format (with ``ctx.path``) even without snippets.

    Prefix-suffix-middle order: the default model scores 38.6% EM in PSM vs 17.4% in SPM. The
    head (the text from the anchor to the cursor) follows the middle marker, so the tokens in
    front of it stay the same while the user types and the KV cache covers them.
    """
    above = ctx.above
    files: list[int] = []
    if (ctx.extra or repo_format) and dialect.file_sep_id is not None:
        files = _repo_files(ctx, dialect, tokenize)
        if dialect.name == "starcoder":  # StarCoder2 puts the FIM file's path in its prefix
            above = f"{ctx.path}\n{above}" if ctx.path else above
    elif ctx.extra:
        above = commented(ctx.extra, ctx.language) + above
    prompt = dialect.build(tokenize(above), tokenize(ctx.suffix), bos_id=None)
    head = [bos_id] if bos_id is not None else []
    pending = ctx.head_text[: len(ctx.head_text) - len(ctx.pending)]  # see Context.pending
    return head + files + prompt + tokenize(pending)


def _repo_files(ctx: Context, dialect: FimDialect, tokenize: Tokenize) -> list[int]:
    assert dialect.file_sep_id is not None
    out: list[int] = []
    if dialect.repo_name_id is not None:
        out += [dialect.repo_name_id, *tokenize(f"{ctx.repo or 'repo'}\n")]
    for path, text in grouped(ctx.extra):
        out += [dialect.file_sep_id, *tokenize(f"{path}\n{text}\n")]
    out.append(dialect.file_sep_id)
    if dialect.name != "starcoder":
        out += tokenize(f"{ctx.path or 'file'}\n")
    return out


def grouped(snippets: tuple[Snippet, ...]) -> list[tuple[str, str]]:
    """Snippets of the same file together (in first-seen order), blank-line separated."""
    files: dict[str, list[str]] = {}
    for snippet in snippets:
        files.setdefault(snippet.path, []).append(snippet.text)
    return [(path, "\n\n".join(texts)) for path, texts in files.items()]


def commented(snippets: tuple[Snippet, ...], language: str) -> str:
    """Snippets as line comments naming their files, for models without a repo format."""
    mark = LINE_COMMENT.get(language, "//")
    out = []
    for path, text in grouped(snippets):
        out.append(f"{mark} {path}")
        out.extend(f"{mark} {line}" if line else mark for line in text.split("\n"))
        out.append("")
    return "\n".join(out) + "\n" if out else ""
