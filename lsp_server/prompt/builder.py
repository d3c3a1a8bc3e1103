"""Context -> prompt token ids, in the model's own FIM dialect."""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.context.types import Context
from lsp_server.prompt.fim import FimDialect


def build_fim_prompt(
    ctx: Context,
    dialect: FimDialect,
    tokenize: Callable[[str], list[int]],
    bos_id: int | None = None,
) -> list[int]:
    """``<prefix> ABOVE <suffix> SUFFIX <middle> HEAD``.

    Prefix-suffix-middle order: the default model scores 38.6% EM in PSM vs 17.4% in SPM. The
    head (the text from the anchor to the cursor) follows the middle marker, so the tokens in
    front of it stay the same while the user types and the KV cache covers them.
    """
    prompt = dialect.build(tokenize(ctx.above), tokenize(ctx.suffix), bos_id=bos_id)
    head = ctx.head_text
    return prompt + tokenize(head[: len(head) - len(ctx.pending)])  # see Context.pending
