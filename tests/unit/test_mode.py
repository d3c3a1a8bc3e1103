import pytest

from lsp_server.context.mode import decide_mode
from lsp_server.context.types import Mode


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("    ", "", Mode.MULTI_LINE),  # blank line inside a block
        ("", "", Mode.MULTI_LINE),  # blank line at top level
        ("def f(x):", "", Mode.MULTI_LINE),  # end of a block opener
        ("if (x) {", "", Mode.MULTI_LINE),
        ("    total = ", "", Mode.SINGLE_LINE),  # finishing a statement
        ("print(", ")", Mode.SINGLE_LINE),  # auto-closed bracket right of the cursor
        ("x = foo(", "a, b)", Mode.SINGLE_LINE),  # real text right of the cursor
        ("    ret", "urn x", Mode.NONE),  # mid-identifier
        ("name = '", "'", Mode.SINGLE_LINE),
    ],
)
def test_mode_from_the_text_around_the_cursor(left, right, expected):
    assert decide_mode(left, right) is expected
