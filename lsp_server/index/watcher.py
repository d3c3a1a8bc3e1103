"""Keeps the index fresh from the disk: a watchdog observer per workspace folder, and the
editor's ``didChangeWatchedFiles`` through the same queue.

Changes are coalesced, not queued: the observer's thread only adds a path to a set (a file
written five times, or reported by watchdog and by the editor, is one entry), and one worker
thread applies the set once no change came for ``DEBOUNCE_S`` (a checkout or a formatter touches
hundreds of files at once), or ``MAX_DELAY_S`` after the first change of a storm that does not
stop. Neither thread is the LSP event loop, and one flush runs at a time.

The bound: at most ``MAX_PENDING`` distinct paths wait (about 1 MB). watchdog's own queue, from
its inotify reader to the handler here, has no bound of its own; the handler only inserts into
a set, so that queue stays short (a few thousand events at the peak of a 10,000-file storm,
against 50,000 when each event started a timer thread). A storm past the bound keeps no more
paths: the workspace folders they are in are checked as a whole instead
(``WorkspaceIndex.refresh``: every file's size and mtime, reading only the changed ones), so the
index still ends up with every file; that is told once per storm. The kernel's inotify queue
overflowing (watchdog's "events lost") ends the same way. Directory "modified" events are
dropped: each file's own event says more, and re-reading a folder per file created in it made
a storm quadratic.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from lsp_server.index.files import SKIPPED_DIRS, inside_any
from lsp_server.index.store import Report
from lsp_server.index.workspace import WorkspaceIndex

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3
MAX_DELAY_S = 2.0
MAX_PENDING = 5_000

_IGNORED = frozenset({"opened", "closed", "closed_no_write"})


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: IndexWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in _IGNORED or (event.is_directory and kind in ("modified", "attrib")):
            return
        paths = [event.src_path]
        if getattr(event, "dest_path", ""):
            paths.append(event.dest_path)
        for raw in paths:
            path = raw.decode() if isinstance(raw, bytes) else str(raw)
            if SKIPPED_DIRS.isdisjoint(path.split(os.sep)):
                self.watcher.queue(path)


class IndexWatcher:
    def __init__(
        self,
        index: WorkspaceIndex,
        debounce_s: float = DEBOUNCE_S,
        applied: Callable[[int], None] | None = None,
        *,
        max_pending: int = MAX_PENDING,
        max_delay_s: float = MAX_DELAY_S,
        report: Report | None = None,
    ) -> None:
        self.index = index
        self.debounce_s, self.max_delay_s, self.max_pending = debounce_s, max_delay_s, max_pending
        self.applied = applied  # called with the number of paths applied (tests, logs)
        self.report: Report = report or (lambda message: log.warning("%s", message))
        self._pending: dict[str, None] = {}  # an ordered set
        self._whole: set[str] = set()  # folders to check as a whole (past the bound)
        self._first = self._last = 0.0  # monotonic times of the oldest and newest change
        self._cond = threading.Condition()
        self._flushing = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._storm = False  # the last flush was past the bound (told once per storm)
        self._observer: Observer | None = None
        self.errors: list[str] = []
        self.peak_pending = 0  # the most paths that waited at once (tests, benchmarks)

    def start(self, roots: list[Path]) -> None:
        """Watch ``roots`` (off the event loop: setting up a recursive watch of a big tree
        takes seconds). A ``stop`` meanwhile finds no observer to stop; the observer then
        stops here, once started, instead of running on for good."""
        with self._cond:
            if self._stopping:
                return
        observer = Observer()
        handler = _Collector(self)
        for root in roots:
            try:
                observer.schedule(handler, str(root), recursive=True)
            except OSError as exc:  # e.g. the inotify watch limit on a huge tree
                self.errors.append(f"{root}: {exc}")
                log.warning("cannot watch %s: %s", root, exc)
        observer.daemon = True
        observer.start()
        with self._cond:
            stopped = self._stopping
            if not stopped:
                self._observer = observer
        if stopped:
            observer.stop()
            observer.join(timeout=5)

    def queue(self, path: str) -> None:
        """Called on the observer's thread for every event: a set insertion, nothing more."""
        with self._cond:
            if path in self._pending:
                pass
            elif len(self._pending) < self.max_pending:
                self._pending[path] = None
                self.peak_pending = max(self.peak_pending, len(self._pending))
            elif not inside_any(path, self._whole):
                folder = self.index.folder_of(Path(path))
                if folder is not None:
                    self._whole.add(str(folder.root))
            self._last = time.monotonic()
            if not self._first:
                self._first = self._last
                self._wake()

    def queue_all(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.queue(path)

    def flush(self) -> int:
        """Apply every queued change now; returns how many paths were looked at."""
        with self._flushing:
            with self._cond:
                pending, self._pending = list(self._pending), {}
                whole, self._whole = self._whole, set()
                self._first = 0.0
            if not pending and not whole:
                return 0
            started = time.perf_counter()
            self._tell_storm(whole)
            folders = whole | {p for p in pending if os.path.isdir(p)}
            files = [p for p in pending if not inside_any(p, folders)]
            stop = lambda: self._stopping  # noqa: E731
            for folder in sorted(folders):
                self.index.refresh(folder, cancelled=stop)
            self.index.update_files([p for p in files if os.path.lexists(p)], cancelled=stop)
            self.index.remove_under(*(p for p in files if not os.path.lexists(p)))
            log.debug(
                "index: %d paths, %d folders in %.1f ms",
                len(pending),
                len(folders),
                (time.perf_counter() - started) * 1000,
            )
        if self.applied is not None:
            self.applied(len(pending))
        return len(pending)

    def stop(self, wait: bool = True) -> None:
        """Stop watching and applying changes. ``wait=False`` (the process exits next, on
        SIGTERM): only say so; the worker ends after the file it is at, and neither it nor
        the observer is waited for (each may take seconds: a flush, closing inotify)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            if not wait:
                return
            observer, self._observer = self._observer, None
        if self._worker is not None:
            self._worker.join(timeout=5)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    # -- the worker --------------------------------------------------------------------------
    def _wake(self) -> None:
        """Under the condition: the worker (started with the first change) looks again."""
        if self._worker is None and not self._stopping:
            self._worker = threading.Thread(target=self._run, name="index-watcher", daemon=True)
            self._worker.start()
        self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (wait := self._wait_s()) != 0.0:
                    self._cond.wait(wait)
                if self._stopping:
                    return
            try:
                self.flush()
            except Exception:  # an index failure costs freshness, never the watcher
                log.exception("index update failed")

    def _wait_s(self) -> float | None:
        """Under the condition: how long until the pending changes are due (None: none)."""
        if not self._first:
            return None
        due = min(self._last + self.debounce_s, self._first + self.max_delay_s)
        return max(0.0, due - time.monotonic())

    def _tell_storm(self, whole: set[str]) -> None:
        if whole and not self._storm:
            self.report(
                f"index: more than {self.max_pending} files changed at once; "
                f"{', '.join(sorted(whole))} checked as a whole instead of file by file"
            )
        self._storm = bool(whole)
