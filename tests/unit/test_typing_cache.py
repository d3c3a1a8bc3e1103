from lsp_server.typing_cache import TypingCache

DOC = "def f(x):\n    \n"
CURSOR = DOC.index("\n    \n") + 5
SUGGESTION = "return x * 2"


def typed(chars: str) -> tuple[str, int]:
    return DOC[:CURSOR] + chars + DOC[CURSOR:], CURSOR + len(chars)


def cache_with_entry() -> TypingCache:
    cache = TypingCache()
    cache.remember("a.py", DOC, CURSOR, SUGGESTION)
    return cache


def test_typing_the_suggestion_serves_its_rest():
    cache = cache_with_entry()
    assert cache.lookup("a.py", DOC, CURSOR) == SUGGESTION
    assert cache.lookup("a.py", *typed("ret")) == "urn x * 2"
    assert cache.lookup("a.py", *typed("return x * ")) == "2"


def test_diverging_or_finished_typing_misses():
    cache = cache_with_entry()
    assert cache.lookup("a.py", *typed("retry")) is None
    assert cache.lookup("a.py", *typed(SUGGESTION)) is None  # nothing left to suggest


def test_any_other_edit_invalidates():
    cache = cache_with_entry()
    text, offset = typed("ret")
    edited_below = text + "print(1)\n"
    assert cache.lookup("a.py", edited_below, offset) is None
    edited_above = "#\n" + text
    assert cache.lookup("a.py", edited_above, offset + 2) is None
    assert cache.lookup("b.py", text, offset) is None


def test_lru_is_bounded():
    cache = TypingCache(max_entries=2)
    for i in range(3):
        cache.remember("a.py", DOC, i, "x")
    assert cache.lookup("a.py", DOC, 0) is None
    assert cache.lookup("a.py", DOC, 2) == "x"


def test_empty_suggestions_are_not_remembered():
    cache = TypingCache()
    cache.remember("a.py", DOC, CURSOR, "")
    assert cache.lookup("a.py", DOC, CURSOR) is None


def test_an_empty_prefetch_answers_nothing_only_at_its_own_place():
    cache = TypingCache()
    cache.remember("a.py", DOC, CURSOR, "")
    assert cache.lookup("a.py", DOC, CURSOR) is None  # a served empty answer is not kept
    cache.remember("a.py", DOC, CURSOR, "", empty_ok=True)
    assert cache.lookup("a.py", DOC, CURSOR) == ""
    assert cache.lookup("a.py", *typed("r")) is None
