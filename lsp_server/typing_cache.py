"""Typing-through: while the user types what the suggestion on screen says, answer from here.

An entry remembers the document around the cursor when a suggestion was served. A later request
whose text after the cursor is unchanged, and whose text before the cursor is the old one plus
characters that begin the suggestion, gets the rest of the suggestion without a model call. Any
other edit (anywhere in the document) makes the entry miss, so nothing stale is shown.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

MAX_ENTRIES = 100


@dataclass(frozen=True)
class Entry:
    # Hashes, not copies, of the document around the cursor when the suggestion was served:
    # 100 entries of a 2 MB file would otherwise hold hundreds of MB.
    before: int  # hash of the text before the cursor
    after: int  # hash of the text after the cursor
    suggestion: str
    mode: str = ""  # the mode it was made in (acceptance statistics group by it)


class TypingCache:
    """A small LRU over (document, cursor context) -> served suggestion."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, int], Entry] = OrderedDict()
        self._max = max_entries

    def clear(self) -> None:
        self._entries.clear()

    def forget(self, uri: str) -> None:
        """A closed document's entries go (they could only match its text anyway)."""
        for key in [key for key in self._entries if key[0] == uri]:
            del self._entries[key]

    def remember(
        self,
        uri: str,
        text: str,
        offset: int,
        suggestion: str,
        *,
        empty_ok: bool = False,
        mode: str = "",
    ) -> None:
        """``empty_ok``: remember that there is nothing to suggest here (a prefetch that found
        nothing after a suggestion: accepting it then answers at once, with nothing)."""
        if not suggestion and not empty_ok:
            return
        key = (uri, offset)
        self._entries[key] = Entry(hash(text[:offset]), hash(text[offset:]), suggestion, mode)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def lookup(self, uri: str, text: str, offset: int) -> str | None:
        """The rest of a served suggestion the user is typing through, or None."""
        found = self.find(uri, text, offset)
        return found[0] if found is not None else None

    def find(self, uri: str, text: str, offset: int) -> tuple[str, str] | None:
        """``lookup``, with the mode the suggestion was made in."""
        after = hash(text[offset:])
        for (entry_uri, entry_offset), entry in reversed(self._entries.items()):
            if entry_uri != uri or entry_offset > offset:
                continue
            typed = text[entry_offset:offset]
            if (
                (not typed or len(typed) < len(entry.suggestion))
                and entry.suggestion.startswith(typed)
                and after == entry.after
                and hash(text[:entry_offset]) == entry.before
            ):
                self._entries.move_to_end((entry_uri, entry_offset))
                return entry.suggestion[len(typed) :], entry.mode
        return None
