"""The fix action's pure stages: find the function, read the model's answer, make line hunks,
build the chat prompt. Small fixed inputs; the model is not involved."""

from __future__ import annotations

import pytest

from lsp_server.fix.answer import Rejected, code_blocks, extract, replace_function
from lsp_server.fix.edits import apply_hunks, line_hunks
from lsp_server.fix.function import find_function
from lsp_server.prompt.chat import FixRequest, fix_messages, render

DOC = '''import math


class Shape:
    """A shape."""

    def area(self, r):
        """Area of a circle."""
        return math.pi * r + r

    def name(self):
        return "shape"
'''


def at(text: str, needle: str) -> int:
    return text.index(needle)


# -- function ---------------------------------------------------------------------------------
def test_finds_the_innermost_method_with_context():
    fn = find_function(DOC, "python", at(DOC, "math.pi"))
    assert fn is not None
    assert (fn.name, fn.start_line, fn.end_line, fn.indent) == ("area", 6, 9, "    ")
    assert fn.text.startswith("    def area(self, r):\n") and fn.text.endswith("+ r\n")
    assert fn.header == "def area(self, r):"
    assert fn.context == "import math\nclass Shape:\n"


def test_outside_any_function_there_is_none():
    assert find_function(DOC, "python", at(DOC, "import")) is None
    assert find_function(DOC, "python", at(DOC, '"""A shape')) is None
    assert find_function("x = 1\n", "", 0) is None  # no grammar


@pytest.mark.parametrize(
    ("language", "source", "needle", "name"),
    [
        ("javascript", "const f = (a) => {\n  return a + 1;\n};\n", "return", "f"),
        ("javascript", "class A {\n  m(x) {\n    return x;\n  }\n}\n", "return", "m"),
        ("go", "package p\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n", "return", "Add"),
        ("rust", "fn add(a: i32) -> i32 {\n    a - 1\n}\n", "a - 1", "add"),
        ("c", "int add(int a) {\n  return a - 1;\n}\n", "return", "add"),
        ("java", "class A {\n  int f(int a) {\n    return a;\n  }\n}\n", "return", "f"),
    ],
)
def test_functions_of_other_languages(language, source, needle, name):
    fn = find_function(source, language, at(source, needle))
    assert fn is not None and fn.name == name


def test_last_function_without_final_newline():
    doc = "def f(x):\n    return x - 1"
    fn = find_function(doc, "python", at(doc, "return"))
    assert fn is not None and fn.text == doc and fn.end_line == 2


# -- answer -----------------------------------------------------------------------------------
AREA = find_function(DOC, "python", at(DOC, "math.pi"))


def test_fenced_answer_is_reindented_and_trimmed_to_the_function():
    reply = (
        "Here is the fix:\n```python\nimport math\n\ndef area(self, r):\n"
        '    """Area of a circle."""\n    return math.pi * r * r\n\n'
        "print(area(None, 2))\n```\nThe bug was the plus."
    )
    got = extract(reply, AREA, "python", DOC)
    assert not got.same
    assert got.text == (
        '    def area(self, r):\n        """Area of a circle."""\n        return math.pi * r * r\n'
    )


def test_unfenced_and_unclosed_answers():
    assert code_blocks("def f():\n    pass\n") == ["def f():\n    pass\n"]
    assert code_blocks("```python\ndef f():\n    pass\n") == ["def f():\n    pass\n"]


def test_same_answer_is_no_change():
    reply = f"```python\n{AREA.text}```"
    assert extract(reply, AREA, "python", DOC).same


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("```python\ndef perimeter(self, r):\n    return 2 * r\n```", "does not contain"),
        ("```python\ndef area(self, r, k):\n    return k\n```", "signature"),
        ("```python\ndef area(self, r):\n    return (r\n```", "does not parse"),
    ],
)
def test_rejected_answers(reply, reason):
    with pytest.raises(Rejected, match=reason):
        extract(reply, AREA, "python", DOC)


def test_signature_may_change_when_the_user_asked():
    reply = "```python\ndef area(self, r, k=1):\n    return k * r\n```"
    got = extract(reply, AREA, "python", DOC, keep_signature=False)
    assert got.text == "    def area(self, r, k=1):\n        return k * r\n"


# -- edits ------------------------------------------------------------------------------------
def test_hunks_are_minimal_and_reproduce_the_replacement():
    new = AREA.text.replace("math.pi * r + r", "math.pi * r * r")
    hunks = line_hunks(AREA.text, new, AREA.start_line)
    assert [(h.start_line, h.end_line, h.end_character) for h in hunks] == [(8, 9, 0)]
    assert hunks[0].new_text == "        return math.pi * r * r\n"
    assert apply_hunks(DOC, hunks) == replace_function(DOC, AREA, new)


def test_hunks_at_the_end_of_a_file_without_final_newline():
    doc = "x = 1\ndef f(a):\n    b = a\n    return b - 1"
    fn = find_function(doc, "python", at(doc, "return"))
    new = "def f(a):\n    b = a\n    c = b\n    return c + 1"
    hunks = line_hunks(fn.text, new, fn.start_line, units=lambda s: len(s.encode("utf-16-le")) // 2)
    assert hunks[-1].end_line == 3 and hunks[-1].end_character == len("    return b - 1")
    assert apply_hunks(doc, hunks) == "x = 1\n" + new


# -- chat prompt ------------------------------------------------------------------------------
def test_messages_carry_function_diagnostics_instruction_and_retry_reason():
    request = FixRequest(
        "python",
        AREA.text,
        "area",
        "shape.py",
        AREA.context,
        ("line 3: bad",),
        "use r squared",
        rejected="the answer does not parse",
    )
    system, user = fix_messages(request)
    assert system["role"] == "system" and user["role"] == "user"
    body = user["content"]
    for part in (
        "```python\n    def area",
        "- line 3: bad",
        "Task: use r squared",
        "rejected: the answer does not parse",
        "File: shape.py",
        "class Shape:",
    ):
        assert part in body


def test_render_uses_the_template_and_primes_a_fence():
    template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    text = render([{"role": "user", "content": "hi"}], template, language="python")
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n```python\n"
    plain = render([{"role": "user", "content": "hi"}], None, language="go")
    assert plain.endswith("### Answer\n```go\n")


def test_line_rewrites_target_statements_not_signature_docstring_or_comments():
    from lsp_server.fix.infill import body_lines

    fn = find_function(DOC, "python", at(DOC, "math.pi"))
    assert [fn.text.split("\n")[i].strip() for i in body_lines(fn)] == ["return math.pi * r + r"]
    src = "def f(x):\n    # note\n\n    y = x\n    return y\n"
    assert body_lines(find_function(src, "python", at(src, "y = x"))) == [3, 4]


def test_an_answer_that_leaves_code_after_a_return_is_rejected():
    from lsp_server.fix.answer import check_in_place, unreachable_lines
    from tests.helpers.fix_cases import TOTAL

    function = find_function(TOTAL, "python", TOTAL.index("result = 1"))
    dead = TOTAL.replace("    result = 1\n", "    return sum(numbers)\n    result = 0\n")
    assert unreachable_lines(dead) == 3 and unreachable_lines(TOTAL) == 0
    with pytest.raises(Rejected, match="can never run"):
        check_in_place(TOTAL, function, dead, "python")
    check_in_place(TOTAL, function, TOTAL.replace("result = 1", "result = 0"), "python")
    # a function that already had dead code may keep it
    early = TOTAL.replace("    return result\n", "    return result\n    print('never')\n")
    check_in_place(
        early, find_function(early, "python", early.index("result = 1")), early, "python"
    )
