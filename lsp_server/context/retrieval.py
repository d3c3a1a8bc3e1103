"""Cross-file context for one completion: what the rest of the repository says about the code
around the cursor, inside a token budget and a time budget.

1. Definitions: identifiers near the cursor (closest first) that resolve to another file --
   through this file's imports (``from .models import User``, ``import pkg.mod as m`` +
   ``m.func``), else through the symbol table when the name is defined in few places -- shown as
   their source when short, else as an outline (signature, docstring line, methods).
2. Similar code: windows of recently opened/edited files that share the most identifiers with
   the lines above the cursor (Jaccard).

Never the current file, never what the prefix/suffix already hold, never a file the index does
not hold (ignored or secret files are never indexed).
"""

from __future__ import annotations

import bisect
import functools
import os
import re
import time
from collections.abc import Callable

from lsp_server.context.types import Snippet
from lsp_server.index.chunks import identifiers, jaccard
from lsp_server.index.symbols import FileSymbols, Import, Symbol, squash
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.paths import canonical

QUERY_ABOVE = 30  # lines above the cursor whose identifiers are resolved
QUERY_BELOW = 8
NEAR_CHARS = 12_000  # each side of the cursor (~300 lines): where uses of names count
SIMILAR_LINES = 12  # lines above the cursor compared with other files' windows
MIN_SIMILARITY = 0.2
MAX_SIMILAR = 2
MAX_DEFINITION_FILES = 3  # a bare name defined in more files than this is too ambiguous
FULL_SOURCE_LINES = 15  # shorter definitions are shown whole
MAX_OUTLINE_MEMBERS = 20
OUTLINE_UNUSED = 4  # members the document does not use, after those it does
OUTLINE_SIGNATURE = 100  # characters of a member's signature in an outline
SNIPPET_OVERHEAD = 8  # tokens of a snippet's file separator and path
CONSTRUCTORS = ("__init__", "constructor", "new")
_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")
_STRING = re.compile(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'")
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from|import)[ \t].*$", re.MULTILINE)
_TRIPLE = ('"""', "'''")
_ELLIPSIS = "    ..."  # closes a definition cut to fit the budget
_MEMBER_USE = re.compile(r"\.([A-Za-z_$][\w$]*)|(?<![\w.$])([A-Za-z_$][\w$]*)\(")

CountTokens = Callable[[str], int]
MemberUses = Callable[[], dict[str, int]]  # see _member_uses; computed once, when needed


def snippet_cost(count: CountTokens, text: str) -> int:
    """Prompt tokens of a snippet, + ``SNIPPET_OVERHEAD`` for its file separator and path:
    counted line by line (a line's count is cached by the completer, and snippets repeat
    lines across requests), plus one per newline -- at most a little over the true count,
    never under it by more than a merge across a line break. The retriever budgets with it
    and the completer takes the same amount from the prefix budget."""
    lines = text.split("\n")
    return sum(count(line) for line in lines) + len(lines) - 1 + SNIPPET_OVERHEAD


def _chains_near(text: str, offset: int) -> list[str]:
    """Dotted identifier chains around the cursor, closest first (the cursor's line, then a
    line above and one below at each distance), each once; not the words of strings, comments
    or docstrings."""
    lines_above = text[:offset].split("\n")
    below = text[offset:].split("\n")
    first = max(0, len(lines_above) - QUERY_ABOVE)
    window = [*lines_above[first:], *below[1 : QUERY_BELOW + 1]]
    code_lines = _outside_docstrings(window, text[: offset - len("\n".join(lines_above[first:]))])
    cursor = len(lines_above) - 1 - first
    above, after = code_lines[:cursor][::-1], code_lines[cursor + 1 :]
    ordered = [code_lines[cursor]]  # then by distance: a line above, the line as far below
    for d in range(max(len(above), len(after))):
        ordered += [*above[d : d + 1], *after[d : d + 1]]
    seen: dict[str, None] = {}
    for i, line in enumerate(ordered):
        code = _STRING.sub('""', line).split("#", 1)[0]
        if code.lstrip().startswith(("from ", "import ")) and " import " in f" {code} ":
            code = code.split(" import ", 1)[-1]  # the names bound, not the module path
        chains = _CHAIN.findall(code)
        for chain in reversed(chains) if i == 0 else chains:  # the cursor's line: right to left
            seen.setdefault(chain, None)
    return list(seen)


def _outside_docstrings(lines: list[str], before: str) -> list[str]:
    """``lines`` with those inside (or opening/closing) a triple-quoted string blanked;
    ``before``: the text in front of the first line, whose quotes decide where it starts."""
    out: list[str] = []
    inside = {q: before.count(q) % 2 == 1 for q in _TRIPLE}
    for line in lines:
        marks = {q: line.count(q) for q in _TRIPLE}
        prose = any(inside.values()) or any(marks.values())
        out.append("" if prose else line)
        for q, n in marks.items():
            inside[q] ^= n % 2 == 1
    return out


def _near(text: str, offset: int) -> tuple[int, int]:
    """The span of ``text`` around the cursor whose uses of a name count as near: whole lines,
    at most ``NEAR_CHARS`` each side (a 2,700-line module is ~110,000 characters: scanning all
    of it per request for a use 2,000 lines away cost milliseconds and said little)."""
    lo = text.rfind("\n", 0, max(0, offset - NEAR_CHARS)) + 1 if offset > NEAR_CHARS else 0
    hi = text.find("\n", offset + NEAR_CHARS)
    return lo, len(text) if hi < 0 else hi


def _by_nearest_use(imports, text: str, offset: int) -> list[Import]:
    """Imports of names (not modules) ordered by how close to the cursor the name is used;
    names not used near the cursor (``_near``) outside import lines come last, in import
    order. One scan for all names (a scan per import cost ~20 ms a request on a 2,000-line
    module)."""
    named = [(order, imp) for order, imp in enumerate(imports) if imp.name and imp.name != "*"]
    if not named:
        return []
    nearest: dict[str, int] = {}
    lo, hi = _near(text, offset)
    spans = [(m.start(), m.end()) for m in _IMPORT_LINE.finditer(text, lo, hi)]
    starts = [start for start, _ in spans]
    alternatives = sorted({re.escape(imp.local) for _, imp in named}, key=len, reverse=True)
    pattern = re.compile(rf"(?<![\w.])({'|'.join(alternatives)})\b")
    for match in pattern.finditer(text, lo, hi):
        k = bisect.bisect_right(starts, match.start()) - 1
        if k >= 0 and match.start() < spans[k][1]:
            continue  # the import line itself
        distance = abs(match.start() - offset)
        if distance < nearest.get(match.group(1), len(text) + 1):
            nearest[match.group(1)] = distance
    ranked = sorted(named, key=lambda r: (nearest.get(r[1].local, len(text) + r[0]), r[0]))
    return [imp for _, imp in ranked]


class Retriever:
    """Snippets for one request from a ``WorkspaceIndex``."""

    def __init__(self, index: WorkspaceIndex, count: CountTokens) -> None:
        self.index = index
        self.count = count

    def retrieve(
        self,
        path: str,
        text: str,
        offset: int,
        budget_tokens: int,
        time_budget_ms: float = 20.0,
    ) -> tuple[Snippet, ...]:
        if budget_tokens <= 0:
            return ()
        started = time.perf_counter()
        deadline = started + time_budget_ms / 1000
        path = canonical(path)
        own = self.index.symbols_of(path) if path else None
        defined_here = {s.name for s in own.symbols} if own else set()
        imports = {i.local: i for i in own.imports} if own else {}
        picked: list[Snippet] = []
        used = 0
        shown: set[tuple[str, int]] = set()  # (path, start line) of definitions already in
        uses = functools.cache(lambda: _member_uses(text, offset))  # outlines only

        def add(snippet: Snippet) -> bool:
            nonlocal used
            if snippet.text.strip() and snippet.text.strip() in text:
                return True  # the document already holds it
            cost = snippet_cost(self.count, snippet.text)
            if used + cost > budget_tokens and snippet.kind == "definition":
                snippet, cost = self._fit(snippet, budget_tokens - used)
            if snippet is None or used + cost > budget_tokens:
                return False
            picked.append(snippet)
            used += cost
            return True

        def add_definitions(found: list[tuple[str, Symbol]]) -> None:
            for where, symbol in found:
                if where == path or (where, symbol.start_line) in shown:
                    continue  # a module importing itself (``__main__`` demos) or shown
                shown.add((where, symbol.start_line))
                body = self._render(where, symbol, uses)
                if body and not add(Snippet(self._display(where), body, "definition")):
                    return

        for chain in _chains_near(text, offset):
            if time.perf_counter() > deadline:
                break
            add_definitions(self._resolve(chain, path, imports, defined_here))
        # Then what this file imports from the project, nearest use first: the APIs the code
        # around the cursor is written against, even when the line being written is the first
        # to use them.
        for imp in _by_nearest_use(imports.values(), text, offset):
            if time.perf_counter() > deadline or used >= budget_tokens:
                break
            add_definitions(self._through_import(imp, [], path))
        if time.perf_counter() < deadline:
            for snippet in self._similar(path, text, offset, shown, deadline)[:MAX_SIMILAR]:
                if not add(snippet):
                    break
        return tuple(picked)

    def _fit(self, snippet: Snippet, room: int) -> tuple[Snippet | None, int]:
        """A definition cut to ``room`` tokens, keeping its first lines (the signature, the
        docstring line, the first members of an outline); None when not even its first line
        fits."""
        lines = snippet.text.split("\n")
        cost = snippet_cost(self.count, _ELLIPSIS)  # + a line and its newline per line kept
        kept = 0
        for line in lines[:-1]:  # at least the last line goes
            more = self.count(line) + 1
            if cost + more > room:
                break
            cost += more
            kept += 1
        if not kept:
            return None, 0
        return Snippet(snippet.path, "\n".join([*lines[:kept], _ELLIPSIS]), snippet.kind), cost

    # -- definitions -----------------------------------------------------------------------
    def _resolve(
        self, chain: str, path: str, imports: dict[str, Import], defined_here: set[str]
    ) -> list[tuple[str, Symbol]]:
        parts = chain.split(".")
        head, rest = parts[0], parts[1:]
        imported = imports.get(head) or imports.get(chain)
        if imported is not None:
            return self._through_import(imported, rest, path)
        if head in defined_here or (rest and head in ("self", "this", "cls")):
            return []
        return self._defined_elsewhere(head, path)

    def _defined_elsewhere(self, name: str, path: str) -> list[tuple[str, Symbol]]:
        """The module-level definition of ``name`` in another file, the one nearest ``path``;
        none when no file or more than ``MAX_DEFINITION_FILES`` define it. Never a member: a
        bare name that matches a method or property elsewhere is a local or a parameter here
        (``console``, ``options``), not that member."""
        defined = self.index.definitions(name, limit=MAX_DEFINITION_FILES + 1)
        found = {p: s for p, s in defined.items() if p != path}
        if len(found) > MAX_DEFINITION_FILES:
            return []
        tops = {p: [s for s in symbols if not s.parent] for p, symbols in found.items()}
        near = sorted(
            (p for p, symbols in tops.items() if symbols),
            key=lambda p: (-len(os.path.commonpath([p, path])) if path else 0, p),
        )
        return [(near[0], tops[near[0]][0])] if near else []

    def _through_import(
        self, imp: Import, rest: list[str], importer: str
    ) -> list[tuple[str, Symbol]]:
        if imp.name:  # from module import name
            for file in self.index.module_files(imp.module, importer):
                symbol = self._top_level(file, imp.name)
                if symbol is not None:
                    return [(file, symbol), *self._member(file, symbol, rest)]
            sub = (
                f"{imp.module}.{imp.name}"
                if not imp.module.endswith(".")
                else imp.module + imp.name
            )
            files = self.index.module_files(sub, importer)  # from pkg import module
            if files and rest:
                symbol = self._top_level(files[0], rest[0])
                return [(files[0], symbol)] if symbol is not None else []
            # re-exported through a package __init__: the definition elsewhere
            return self._defined_elsewhere(imp.name, importer)
        if not rest:
            return []
        for file in self.index.module_files(imp.module, importer):  # import mod; mod.func
            symbol = self._top_level(file, rest[0])
            if symbol is not None:
                return [(file, symbol)]
        return []

    def _top_level(self, path: str, name: str) -> Symbol | None:
        symbols = self.index.symbols_of(path)
        if symbols is None:
            return None
        return next((s for s in symbols.symbols if s.name == name and not s.parent), None)

    def _member(self, path: str, symbol: Symbol, rest: list[str]) -> list[tuple[str, Symbol]]:
        """``Class.method``: the method too, when the class outline would not show its body."""
        if not rest or symbol.kind not in ("class", "type"):
            return []
        symbols = self.index.symbols_of(path) or FileSymbols((), ())
        member = next(
            (s for s in symbols.symbols if s.parent == symbol.name and s.name == rest[0]), None
        )
        return [(path, member)] if member is not None else []

    def _render(self, path: str, symbol: Symbol, uses: MemberUses) -> str:
        text = self.index.text_of(path)
        if text is None:
            return ""
        lines = text.split("\n")
        start = symbol.start_line
        while start > 0 and lines[start - 1].lstrip().startswith("@"):  # decorators
            start -= 1
        end = symbol.end_line + 1
        source = lines[start:end]
        if len(source) <= FULL_SOURCE_LINES:
            return _dedent("\n".join(source))
        if symbol.kind in ("class", "type"):
            return self._outline(path, symbol, lines, uses)
        indent = _indent_of(lines[symbol.start_line])
        head = [squash(symbol.signature, OUTLINE_SIGNATURE * 2)]
        if symbol.doc:
            head.append(f'{indent}    """{symbol.doc}"""')
        head.append(f"{indent}    ...")
        return _dedent("\n".join([indent + head[0], *head[1:]]))

    def _outline(self, path: str, symbol: Symbol, lines: list[str], uses: MemberUses) -> str:
        """Signature, docstring line, then members: those the document uses (``.name``, or
        the constructor where the class is called; nearest the cursor first), then a few
        others in source order -- a big class's first twenty methods are rarely the ones the
        line being written calls."""
        symbols = self.index.symbols_of(path) or FileSymbols((), ())
        indent = _indent_of(lines[symbol.start_line])
        out = [indent + symbol.signature]
        if symbol.doc:
            out.append(f'{indent}    """{symbol.doc}"""')
        members = _ranked_members(
            symbol.name, [s for s in symbols.symbols if s.parent == symbol.name], uses()
        )
        for member in members:
            inner = lines[member.start_line] if member.start_line < len(lines) else ""
            signature = squash(member.signature, OUTLINE_SIGNATURE)  # 20 keyword arguments
            out.append(f"{_indent_of(inner) or indent + '    '}{signature} ...")
        if not members:
            out.append(f"{indent}    ...")
        return _dedent("\n".join(out))

    # -- similar code ----------------------------------------------------------------------
    def _similar(
        self, path: str, text: str, offset: int, shown: set[tuple[str, int]], deadline: float
    ) -> list[Snippet]:
        query = identifiers("\n".join(text[:offset].split("\n")[-SIMILAR_LINES:]))
        if len(query) < 2:
            return []
        scored: list[tuple[float, str, str]] = []
        for other in self.index.recent():
            if other == path or time.perf_counter() > deadline:
                continue
            best = max(
                ((jaccard(query, c.idents), c) for c in self.index.chunks_of(other)),
                key=lambda pair: pair[0],
                default=(0.0, None),
            )
            score, window = best
            if window is not None and score >= MIN_SIMILARITY:
                scored.append((score, other, window.text))
        scored.sort(key=lambda row: -row[0])
        return [Snippet(self._display(p), _dedent(body), "similar") for _, p, body in scored]

    def _display(self, path: str) -> str:
        return self.index.display(path)[1]


def _member_uses(text: str, offset: int) -> dict[str, int]:
    """Attribute names the document uses near the cursor (``x.name``) and names it calls (as
    ``"name("``) -> distance of the nearest use from the cursor, in characters."""
    uses: dict[str, int] = {}
    for match in _MEMBER_USE.finditer(text, *_near(text, offset)):
        key = match.group(1) or f"{match.group(2)}("
        distance = abs(match.start() - offset)
        if distance < uses.get(key, len(text) + 1):
            uses[key] = distance
    return uses


def _ranked_members(owner: str, members: list[Symbol], uses: dict[str, int]) -> list[Symbol]:
    """Members the document uses, nearest first (the constructor counts as used where the
    class is called), then a few others in source order."""

    def use(member: Symbol) -> int | None:
        key = f"{owner}(" if member.name in CONSTRUCTORS else member.name
        return uses.get(key)

    used = sorted((m for m in members if use(m) is not None), key=lambda m: use(m) or 0)
    rest = [m for m in members if use(m) is None][:OUTLINE_UNUSED]
    return [*used, *rest][:MAX_OUTLINE_MEMBERS]


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _dedent(text: str) -> str:
    lines = text.split("\n")
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return "\n".join(line[cut:] for line in lines).strip("\n")
