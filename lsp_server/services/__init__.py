"""The server's state, one owner per concern, and nothing that knows about LSP handlers.

``Services.create`` builds them for one server: the settings (``Config``), the open documents
(text, trees, anchors), the model (worker, loading, health), the repository index, completions
(typing cache, prefetch, stats), the fix action, the suggestions in flight (acceptance) and the
acceptance statistics file. Handler modules get them through
``register(server, services)``; the services reach the editor only through the ``Client`` port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lsprotocol import types
from pygls.workspace import Workspace

from lsp_server.services.acceptance import AcceptanceTracker
from lsp_server.services.client import Client
from lsp_server.services.completions import CompletionService
from lsp_server.services.config import Applied, Config
from lsp_server.services.documents import DocumentService
from lsp_server.services.fixes import FixService
from lsp_server.services.indexing import IndexService
from lsp_server.services.model import ModelService
from lsp_server.services.stats_file import StatsFile
from lsp_server.settings import Settings, to_wire
from lsp_server.stats.store import StatsStore, stats_path


@dataclass
class Services:
    client: Client
    config: Config
    documents: DocumentService
    model: ModelService
    index: IndexService
    completions: CompletionService
    fixes: FixService
    stats: StatsFile
    acceptance: AcceptanceTracker

    @classmethod
    def create(
        cls, client: Client, workspace: Callable[[], Workspace], settings: Settings | None = None
    ) -> Services:
        config = Config(settings)
        documents = DocumentService(workspace)
        model = ModelService(client, config)
        index = IndexService(client, config, documents)
        completions = CompletionService(client, config, documents, model, index)
        model.on_unload = completions.drop_completer
        fixes = FixService(client, config, documents, model)
        stats = StatsFile(client, config, StatsStore(stats_path()))
        acceptance = AcceptanceTracker(documents, stats.add)
        return cls(client, config, documents, model, index, completions, fixes, stats, acceptance)

    def apply_settings(self, raw: object, origin: str) -> Applied:
        """New wire settings: bad keys told to the user (their old values kept), and every
        owner whose state depends on a changed setting told."""
        applied = self.config.apply(raw, origin)
        for error in applied.errors:
            self.client.tell(error, types.MessageType.Warning)
        if applied.changed:
            self.completions.settings_changed()
            self.stats.settings_changed()
        if self.model.state != "starting":  # before `initialized`, it loads with these
            self.index.settings_changed(applied)
            self.model.settings_changed(applied.reload)
        return applied

    def start(self) -> None:
        """``initialized``: the index first (completions find it as the scan goes on), then
        the model, both in the background."""
        self.index.start()
        self.model.start_load()
        self.stats.start()

    def close_document(self, uri: str) -> None:
        """didClose reaches every owner of per-document state."""
        self.documents.close(uri)
        self.completions.close(uri)
        self.index.close(uri)
        self.acceptance.close(uri)

    def shutdown(self) -> None:
        self.model.shutdown()
        self.index.stop()
        self.stats.shutdown()  # writes what is pending

    async def delete_stats(self) -> dict[str, object]:
        """``infill.deleteStats``: the file, and this session's totals with it."""
        deleted = await self.stats.delete()
        self.acceptance.reset()
        return deleted

    def status(self) -> dict[str, object]:
        """``infill/status``: model state for status bars, tests and benchmarks."""
        settings, model = self.config.settings, self.model
        index = self.index.index
        engine = model.engine
        return {
            "state": model.state,
            "message": model.message,
            "model": model.describe(),
            "settings": to_wire(settings),
            "last": self.completions.last,
            "lastFix": self.fixes.last,
            "index": index.stats.to_wire() if index is not None else None,
            # whether prompts get cross-file snippets with this model (repoContext "auto"
            # leaves an instruction-tuned one without)
            "repoContextActive": bool(engine and settings.repo_context_for(engine.name)),
            "engineHealth": model.health,
            "totals": dict(self.completions.totals),
            "acceptance": {**self.acceptance.describe(), **self.stats.describe()},
        }
