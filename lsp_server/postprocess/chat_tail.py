"""Cut the chat-like or test tail a small instruct model appends after the code.

Qwen2.5-Coder-0.5B-Instruct finishes the function and then keeps going with ``# Test cases``,
``if __name__ == "__main__":``, top-level ``print(...)`` calls, a closing Markdown fence,
"Explanation:" prose or leaked special tokens like ``<|im_end|>``. The cut happens at the start
of the first such line (line 0 too when it is itself such a line); a special token is never
code, so it cuts wherever it appears.
"""

from __future__ import annotations

from lsp_server.context.types import Context
from lsp_server.postprocess._filter import Filter
from lsp_server.postprocess._lines import drop_trailing_blank_lines
from lsp_server.postprocess._markers import first_tail_line, special_token_index


def apply(text: str, ctx: Context) -> str:
    cut_text = False
    token_at = special_token_index(text)
    if token_at >= 0:
        text, cut_text = text[:token_at], True
    lines = text.split("\n")
    tail = first_tail_line(lines, ctx)
    if tail is not None:
        lines, cut_text = lines[:tail], True
    if not cut_text:
        return text
    return drop_trailing_blank_lines("\n".join(lines)) if lines else ""


def stop(generated: str, ctx: Context) -> bool:
    """At a leaked special token (never code: ``apply`` cuts wherever it shows), or once a
    completed line starts a tail. Only completed lines are judged: a partial one can match where
    the whole line does not (``# Test`` does, ``# Test data below`` does not)."""
    if special_token_index(generated) >= 0:
        return True
    return first_tail_line(generated.split("\n")[:-1], ctx) is not None


# A drop: the answer opens with a test tail or chat, not code. Re-decoding helps also where
# another filter dropped the first try (``return x`` forbidden, the model writes
# ``if __name__ == "__main__":`` instead): then this drop is the second try's.
FILTER = Filter(apply, wrong_start=True, stop=stop)
