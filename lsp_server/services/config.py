"""The settings, held once: every service reads ``config.settings``; only ``apply`` writes it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsp_server.settings import Settings, merge, needs_reload


@dataclass(frozen=True)
class Applied:
    """What one ``apply`` did: the settings before and after, and each bad key's message."""

    old: Settings
    new: Settings
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new != self.old

    @property
    def reload(self) -> bool:
        """Whether the model must be loaded again (a setting marked ``reload`` changed)."""
        return needs_reload(self.old, self.new)


class Config:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()

    def apply(self, raw: object, origin: str) -> Applied:
        """Merge wire settings (``initializationOptions``, ``didChangeConfiguration``, the
        CLI's ``--set``); invalid keys keep their previous value and come back as messages
        naming ``origin``."""
        old = self.settings
        new, errors = merge(old, raw)
        self.settings = new
        return Applied(old, new, [f"infill-lsp {origin}: {error}" for error in errors])
