"""The repository index: every indexed file's symbols and imports, in memory, persisted per
workspace folder, fed by a background scan, the file watcher and the editor's open documents.

Threads: the scan and the watcher write, completions (on the model worker) read; one lock
guards the maps, held only for dictionary work, never for parsing, disk reads or a store write
(a store may wait for another process's lock).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from lsp_server.index.chunks import Chunk, chunk
from lsp_server.index.files import (
    IGNORE_FILES,
    FileFilter,
    inside_any,
    looks_secret,
    read_source,
    under_any,
)
from lsp_server.index.records import Entry, Folder, IndexStats, Live, file_stat, stamp
from lsp_server.index.store import IndexStore, Report, Stored, content_hash, store_path
from lsp_server.index.symbols import FileSymbols, Symbol, extract
from lsp_server.paths import canonical
from lsp_server.syntax.incremental import DocumentTrees
from lsp_server.syntax.languages import normalise

log = logging.getLogger(__name__)

MAX_RECENT = 12  # files whose chunks the similarity search looks at
SAVE_EVERY = 500  # rows per store write (a scan, a batch of changes)

Progress = Callable[[int, int], None]  # (files done, files total)


class WorkspaceIndex:
    def __init__(
        self,
        ignore_globs: tuple[str, ...] = (),
        persist: bool = True,
        trees: DocumentTrees | None = None,
        report: Report | None = None,
    ) -> None:
        """``trees``: where open documents are parsed (the server shares its documents' trees,
        so the context window and retrieval parse a document once). ``report``: where the
        stores' faults are told (from the thread that met them)."""
        self.ignore_globs = ignore_globs
        self.report = report
        self.trees = trees if trees is not None else DocumentTrees()
        self.persist = persist
        self.folders: list[Folder] = []
        self._entries: dict[str, Entry] = {}
        self._by_name: dict[str, dict[str, list[Symbol]]] = {}  # name -> path -> symbols
        self._modules: dict[str, set[str]] = {}  # dotted module suffix -> python paths
        self._live: dict[str, Live] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._chunks: dict[str, tuple[str, list[Chunk]]] = {}  # path -> (digest, chunks)
        self._lock = threading.RLock()
        self.generation = 0  # bumped on every change: retrieval caches key on it
        self.stats = IndexStats()

    # -- folders and scanning --------------------------------------------------------------
    def add_folder(self, root: str | Path) -> Folder:
        path = Path(canonical(str(root)))
        for folder in self.folders:
            if folder.root == path:
                return folder
        store = None
        if self.persist:
            refill = functools.partial(self._stored_rows, path)
            store = IndexStore(store_path(path), self.report, refill)
        folder = Folder(path, FileFilter(path, self.ignore_globs), store)
        with self._lock:
            self.folders.append(folder)
            self.stats.folders = len(self.folders)
        return folder

    def scan(
        self,
        folder: Folder,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        """Index every wanted file of ``folder``; unchanged files come from the store."""
        started = time.perf_counter()
        stored = folder.store.load() if folder.store is not None else {}
        paths = list(folder.filter.walk())
        fresh: dict[str, Stored] = {}
        reused = 0
        for done, path in enumerate(paths, 1):
            if cancelled():
                break
            key = str(path)
            try:
                st = path.stat()
            except OSError:
                continue
            row = stored.pop(key, None)
            if row is not None and (row.mtime_ns, row.size) == stamp(st):
                if row.language:  # "" = a binary file, remembered so it is not read again
                    self._put(key, Entry(row.language, row.symbols, row.digest, *stamp(st)))
                reused += 1
            else:
                entry = self._read(path, row, st)
                if entry is not None:
                    self._put(key, entry)
                else:
                    entry = Entry("", FileSymbols((), ()), "", *stamp(st))
                fresh[key] = entry.stored()
            if len(fresh) >= SAVE_EVERY and folder.store is not None:
                folder.store.save(fresh)
                fresh = {}
            if progress is not None and (done % 200 == 0 or done == len(paths)):
                progress(done, len(paths))
        if folder.store is not None:
            folder.store.save(fresh)
            folder.store.delete(list(stored))  # files gone since the last run
        folder.files, folder.reused = len(paths), reused
        folder.scan_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.stats.files = len(self._entries)
            self.stats.symbols = sum(len(e.symbols.symbols) for e in self._entries.values())
            self.stats.last_scan_ms, self.stats.reused = folder.scan_ms, reused

    def _read(self, path: Path, row: Stored | None, st: os.stat_result) -> Entry | None:
        """The file's entry; ``st`` is taken before the read, so that a file changed
        meanwhile looks changed to the next scan."""
        text = read_source(path, self.folders[0].filter.max_bytes if self.folders else 1_000_000)
        if text is None:
            return None
        digest = content_hash(text)
        language = normalise(None, path.name)
        if row is not None and row.digest == digest:
            return Entry(row.language, row.symbols, digest, *stamp(st))  # touched, not edited
        return Entry(language, extract(text, language), digest, *stamp(st))

    # -- changes ---------------------------------------------------------------------------
    def folder_of(self, path: Path) -> Folder | None:
        root = under_any(path, [f.root for f in self.folders])
        return next((f for f in self.folders if f.root == root), None)

    def wanted(self, path: Path) -> bool:
        folder = self.folder_of(path)
        return folder is not None and path.exists() and folder.filter.wanted(path)

    def update_file(self, raw: str | Path) -> bool:
        """A file was created or changed on disk: index it again (True when it is indexed)."""
        return self.update_files([raw]) == 1

    def update_files(
        self,
        raws: Iterable[str | Path],
        only_changed: bool = False,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> int:
        """Files created or changed on disk: index them again; returns how many are indexed.
        ``only_changed``: skip a file whose size and mtime are those indexed (a folder checked
        as a whole). The store is written every ``SAVE_EVERY`` files: thousands of files at
        once cost a few transactions, not a commit (and an fsync) each."""
        changes: dict[str, Stored | None] = {}
        indexed = 0
        for raw in raws:
            if cancelled():
                break
            try:
                change = self._reindex(raw, only_changed)
            except Exception:  # one bad file never stops the others
                log.exception("index update failed for %s", raw)
                continue
            if change is None:
                continue
            changes[change[0]] = change[1]
            indexed += change[1] is not None
            if len(changes) >= SAVE_EVERY:
                self._persist(changes)
                changes = {}
        self._persist(changes)
        with self._lock:
            self.stats.files = len(self._entries)
        return indexed

    def _reindex(self, raw: str | Path, only_changed: bool) -> tuple[str, Stored | None] | None:
        """One file of ``update_files``: its new row, None for a row to delete, or nothing."""
        started = time.perf_counter()
        path = Path(canonical(str(raw)))
        key, folder = str(path), self.folder_of(path)
        if path.name in IGNORE_FILES and folder is not None:
            folder.filter.forget(path.parent)
            return None
        st = file_stat(path) if folder is not None else None
        entry = None
        if st is not None and folder is not None and folder.filter.wanted(path, st.st_size):
            if only_changed and self._unchanged(key, st):
                return None
            entry = self._read(path, None, st)
        if entry is None:
            return (key, None) if self._forget(key) else None
        self._put(key, entry)
        with self._lock:
            self.stats.updates += 1
            self.stats.last_update_ms = (time.perf_counter() - started) * 1000
        return key, entry.stored()

    def refresh(self, raw: str | Path, cancelled: Callable[[], bool] = lambda: False) -> int:
        """A folder whose events do not tell what changed in it (created or moved in, events
        lost, too many at once): index what changed under it and drop what is gone. Changed
        files are told by size and mtime; only those are read."""
        path = Path(canonical(str(raw)))
        folder = self.folder_of(path)
        if folder is None:
            return 0
        with self._lock:
            known = [p for p in self._entries if inside_any(p, {str(path)})]
        walked = folder.filter.walk_from(path)
        indexed = self.update_files(walked, only_changed=True, cancelled=cancelled)
        # Those gone or now ignored are dropped.
        self.update_files(known, only_changed=True, cancelled=cancelled)
        return indexed

    def remove_under(self, *raws: str | Path) -> None:
        """Files or folders are gone: drop each, and every indexed file under it."""
        keys = {canonical(str(raw)) for raw in raws}
        with self._lock:
            gone = [p for p in self._entries if inside_any(p, keys)]
            for path in gone:
                self._forget(path)
        self._persist(dict.fromkeys(gone))

    def _forget(self, key: str) -> bool:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return False
            self._unlink(key, entry)
            self._chunks.pop(key, None)
            self.generation += 1
            self.stats.files = len(self._entries)
            return True

    def _unchanged(self, key: str, st: os.stat_result) -> bool:
        with self._lock:
            entry = self._entries.get(key)
        return entry is not None and (entry.mtime_ns, entry.size) == stamp(st)

    def _persist(self, changes: dict[str, Stored | None]) -> None:
        """Write rows (None: deleted) to their folders' stores. Never under the lock: a store
        may wait for another process's lock, and a rebuilt one asks for ``_stored_rows``."""
        by_root: dict[Path, tuple[IndexStore, dict[str, Stored | None]]] = {}
        for key, row in changes.items():
            folder = self.folder_of(Path(key))
            if folder is not None and folder.store is not None:
                by_root.setdefault(folder.root, (folder.store, {}))[1][key] = row
        for store, rows in by_root.values():
            store.write(rows)

    def _stored_rows(self, root: Path) -> dict[str, Stored]:
        """The rows of ``root``'s files as the index in memory holds them."""
        with self._lock:
            entries = list(self._entries.items())
        return {
            key: entry.stored()
            for key, entry in entries
            if entry.mtime_ns and under_any(Path(key), [f.root for f in self.folders]) == root
        }

    def _put(self, key: str, entry: Entry) -> None:
        with self._lock:
            old = self._entries.get(key)
            if old is not None:
                self._unlink(key, old)
            self._entries[key] = entry
            for symbol in entry.symbols.symbols:
                self._by_name.setdefault(symbol.name, {}).setdefault(key, []).append(symbol)
            if entry.language == "python":
                for name in _module_names(key):
                    self._modules.setdefault(name, set()).add(key)
            self.generation += 1

    def _unlink(self, key: str, entry: Entry) -> None:
        for symbol in entry.symbols.symbols:
            paths = self._by_name.get(symbol.name)
            if paths is not None:
                paths.pop(key, None)
                if not paths:
                    del self._by_name[symbol.name]
        if entry.language == "python":
            for name in _module_names(key):
                holders = self._modules.get(name)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del self._modules[name]

    # -- open documents --------------------------------------------------------------------
    def set_live(self, raw: str, text: str, language: str) -> None:
        """An open document's current text (never for files that look like secrets)."""
        path = canonical(str(raw))
        if looks_secret(path):
            return
        folder = self.folder_of(Path(path))
        if folder is not None and not folder.filter.wanted(Path(path), size=len(text)):
            return
        with self._lock:
            self._live[path] = Live(text, language)
            self._recent.pop(path, None)
            self._recent[path] = None
            while len(self._recent) > MAX_RECENT:
                self._recent.popitem(last=False)
            self.generation += 1

    def close_live(self, raw: str) -> None:
        with self._lock:
            self._live.pop(canonical(str(raw)), None)

    # -- reads (retrieval) -----------------------------------------------------------------
    def symbols_of(self, path: str) -> FileSymbols | None:
        with self._lock:
            live = self._live.get(path)
            entry = self._entries.get(path)
        if live is not None:
            if live.parsed is None:
                tree = self.trees.parse(path, live.language, live.text)
                live.parsed = extract(live.text, live.language, tree)
            return live.parsed
        return entry.symbols if entry is not None else None

    def definitions(self, name: str, limit: int = 0) -> dict[str, list[Symbol]]:
        """Where ``name`` is defined: path -> symbols ({} when defined in more than ``limit``
        files, a name too common to resolve). An open document counts with its live text
        once it has been parsed (``symbols_of``), else with the file on disk: a query never
        parses every open document."""
        with self._lock:
            holders = self._by_name.get(name, {})
            if limit and len(holders) > limit + len(self._live):
                return {}
            found = {p: list(s) for p, s in holders.items()}
            parsed = {p: live.parsed for p, live in self._live.items() if live.parsed is not None}
        for path, symbols in parsed.items():
            mine = [s for s in symbols.symbols if s.name == name]
            if mine:
                found[path] = mine
            else:
                found.pop(path, None)
        return {} if limit and len(found) > limit else found

    def module_files(self, module: str, importer: str) -> list[str]:
        """Python files a (possibly relative) module name refers to, from ``importer``."""
        if module.startswith("."):
            level = len(module) - len(module.lstrip("."))
            base = Path(importer).parent
            for _ in range(level - 1):
                base = base.parent
            rest = module.lstrip(".").replace(".", os.sep)
            candidates = (
                [base / f"{rest}.py", base / rest / "__init__.py"]
                if rest
                else [base / "__init__.py"]
            )
            with self._lock:
                return [str(c) for c in candidates if str(c) in self._entries]
        with self._lock:
            holders = sorted(self._modules.get(module, ()))
        if len(holders) > 1:  # the same dotted name in several places: nearest to the importer
            holders.sort(key=lambda p: -len(os.path.commonpath([p, importer])))
        return holders

    def text_of(self, path: str) -> str | None:
        with self._lock:
            live = self._live.get(path)
        if live is not None:
            return live.text
        with self._lock:
            if path not in self._entries:
                return None  # never a file the index does not hold (ignored, secret)
        return read_source(Path(path))

    def recent(self) -> list[str]:
        with self._lock:
            return list(reversed(self._recent))

    def chunks_of(self, path: str) -> list[Chunk]:
        text = self.text_of(path)
        if text is None:
            return []
        digest = content_hash(text)
        with self._lock:
            cached = self._chunks.get(path)
        if cached is not None and cached[0] == digest:
            return cached[1]
        chunks = chunk(text)
        with self._lock:
            self._chunks[path] = (digest, chunks)
        return chunks

    def display(self, path: str) -> tuple[str, str]:
        """(repository name, path relative to its workspace folder) as prompts show them."""
        folder = self.folder_of(Path(path)) if path else None
        if folder is None:
            return "", os.path.basename(path)
        return folder.root.name, os.path.relpath(path, folder.root)

    def indexed(self, path: str) -> bool:
        with self._lock:
            return path in self._entries or path in self._live

    def close(self) -> None:
        for folder in self.folders:
            if folder.store is not None:
                folder.store.close()


def _module_names(path: str) -> list[str]:
    """Dotted suffixes a Python file can be imported as: a/b/c.py -> c, b.c, a.b.c."""
    parts = Path(path).with_suffix("").parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return [".".join(parts[i:]) for i in range(len(parts) - 1, -1, -1)][:8] if parts else []
