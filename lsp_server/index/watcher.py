"""Keeps the index fresh from the disk: a watchdog observer per workspace folder; events are
collected and applied after a quiet period (a checkout or a formatter touches hundreds of
files at once), on the watcher's own timer thread, never on the LSP event loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from lsp_server.index.files import SKIPPED_DIRS
from lsp_server.index.workspace import WorkspaceIndex
from lsp_server.paths import canonical

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.3


class _Collector(FileSystemEventHandler):
    def __init__(self, watcher: IndexWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed", "closed_no_write"):
            return
        paths = [event.src_path]
        if getattr(event, "dest_path", ""):
            paths.append(event.dest_path)
        for raw in paths:
            path = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not any(part in SKIPPED_DIRS for part in Path(path).parts):
                self.watcher.queue(path)


class IndexWatcher:
    def __init__(
        self,
        index: WorkspaceIndex,
        debounce_s: float = DEBOUNCE_S,
        applied: Callable[[int], None] | None = None,
    ) -> None:
        self.index = index
        self.debounce_s = debounce_s
        self.applied = applied  # called with the number of paths applied (tests, logs)
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer: Observer | None = None
        self.errors: list[str] = []

    def start(self, roots: list[Path]) -> None:
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
        self._observer = observer

    def queue(self, path: str) -> None:
        with self._lock:
            self._pending.add(path)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.debounce_s, self.flush)
            self._timer.daemon = True
            self._timer.start()

    def flush(self) -> int:
        """Apply every queued change now; returns how many paths were looked at."""
        with self._lock:
            pending, self._pending = self._pending, set()
            self._timer = None
        started = time.perf_counter()
        for raw in sorted(pending):
            path = Path(raw)
            try:
                if path.is_dir():
                    real = Path(canonical(raw))
                    folder = self.index.folder_of(real)
                    if folder is not None:
                        for file in folder.filter.walk_from(real):
                            self.index.update_file(file)
                elif path.exists():
                    self.index.update_file(path)
                else:
                    self.index.remove_under(path)
            except Exception:  # one bad path never stops the others
                log.exception("index update failed for %s", raw)
        if pending:
            log.debug(
                "index: %d paths in %.1f ms", len(pending), (time.perf_counter() - started) * 1000
            )
        if self.applied is not None and pending:
            self.applied(len(pending))
        return len(pending)

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
