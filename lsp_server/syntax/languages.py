"""Which tree-sitter grammar serves which document, from offline grammar wheels.

Grammars load lazily (importing all eight costs ~50 ms at start-up for nothing) and a missing
grammar wheel degrades to "unknown language" rather than failing: callers fall back to plain
line windows and skip syntax checks.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from dataclasses import dataclass

from tree_sitter import Language, Parser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grammar:
    module: str
    function: str = "language"


# Normalised language name -> where its grammar lives.
GRAMMARS: dict[str, Grammar] = {
    "python": Grammar("tree_sitter_python"),
    "javascript": Grammar("tree_sitter_javascript"),
    "typescript": Grammar("tree_sitter_typescript", "language_typescript"),
    "tsx": Grammar("tree_sitter_typescript", "language_tsx"),
    "go": Grammar("tree_sitter_go"),
    "rust": Grammar("tree_sitter_rust"),
    "java": Grammar("tree_sitter_java"),
    "c": Grammar("tree_sitter_c"),
    "cpp": Grammar("tree_sitter_cpp"),
}

# LSP languageId (and common editor aliases) -> normalised name.
LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cuda-cpp": "cpp",
}

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
}


def normalise(language_id: str | None, path: str = "") -> str:
    """Map an LSP languageId (preferred) or a file extension to a grammar name, or ""."""
    if language_id:
        name = LANGUAGE_IDS.get(language_id.lower())
        if name:
            return name
    ext = os.path.splitext(path)[1].lower()
    return EXTENSIONS.get(ext, (language_id or "").lower() if language_id else "")


@functools.cache
def language(name: str) -> Language | None:
    """The tree-sitter Language for a normalised name, or None when no grammar is installed."""
    grammar = GRAMMARS.get(name)
    if grammar is None:
        return None
    try:
        module = importlib.import_module(grammar.module)
        return Language(getattr(module, grammar.function)())
    except (ImportError, AttributeError, ValueError) as exc:  # broken or missing wheel
        log.warning("tree-sitter grammar for %s unavailable: %s", name, exc)
        return None


def parser(name: str) -> Parser | None:
    """A fresh parser (parsers are not thread-safe; they are cheap to make)."""
    lang = language(name)
    return Parser(lang) if lang is not None else None
