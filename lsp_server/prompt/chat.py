"""Chat prompts (the fix action): messages -> prompt text in the model's own chat template.

The template is the Jinja text stored in the GGUF (``tokenizer.chat_template``), rendered the way
llama.cpp and transformers render it. A model without a template (a base model) gets a plain
instruction layout. The reply is primed with an opening code fence so even a small model starts
with code instead of prose.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FixRequest:
    """Everything the model is told about one fix."""

    language: str  # normalised grammar name ("python") or ""
    function: str  # the whole function, as it stands
    name: str
    path: str = ""
    context: str = ""  # imports and enclosing class headers
    diagnostics: tuple[str, ...] = ()  # "line 3: message" inside the function
    instruction: str = ""  # the user's words, if any
    evidence: tuple[str, ...] = ()  # observed behaviour, e.g. failing examples
    rejected: str = ""  # why the previous answer was rejected (stricter retry)


SYSTEM = (
    "You are an expert programmer. You fix bugs in the function you are given and answer with "
    "the complete corrected function in one code block, nothing else."
)


def fix_messages(request: FixRequest) -> list[dict[str, str]]:
    lang = request.language  # grammar names double as Markdown fence tags
    parts = [f"Language: {request.language or 'unknown'}"]
    if request.path:
        parts.append(f"File: {request.path}")
    if request.context.strip():
        parts.append(f"Context from the file:\n```{lang}\n{request.context.rstrip()}\n```")
    parts.append(f"The function `{request.name}`:\n```{lang}\n{request.function.rstrip()}\n```")
    if request.diagnostics:
        parts.append(
            "Problems reported in it:\n" + "\n".join(f"- {d}" for d in request.diagnostics)
        )
    if request.evidence:
        parts.append("What it does when run:\n" + "\n".join(f"- {e}" for e in request.evidence))
    task = request.instruction.strip() or "Find the bug in this function and fix it."
    parts.append(f"Task: {task}")
    rules = (
        f"Answer with the whole corrected function `{request.name}` in one ```{lang} code block: "
        "same name, same parameters, no explanation, no tests, no usage examples."
    )
    if request.rejected:
        rules = (
            f"Your previous answer was rejected: {request.rejected}. " + rules + " Keep every "
            "line that is correct exactly as it is and change only what is wrong."
        )
    parts.append(rules)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def render(
    messages: list[dict[str, str]],
    template: str | None,
    *,
    bos: str = "",
    eos: str = "",
    language: str = "",
) -> str:
    """The prompt text, ending with the assistant's turn opened and a code fence primed."""
    opener = f"```{language}\n"
    if not template:
        body = "\n\n".join(m["content"] for m in messages)
        return f"{body}\n\n### Answer\n{opener}"
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # what llama.cpp's tools use

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ValueError(f"chat template: {message}")

    text = env.from_string(template).render(
        messages=messages,
        add_generation_prompt=True,
        bos_token=bos,
        eos_token=eos,
        raise_exception=raise_exception,
    )
    return text + opener
