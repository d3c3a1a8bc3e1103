"""LSP methods -> services: protocol translation only, one module per area.

Each module's ``register(server, services)`` declares its methods on the server; handlers hold
no state of their own and never import ``lsp_server.server``.
"""

from __future__ import annotations

from pygls.lsp.server import LanguageServer

from lsp_server.handlers import acceptance, actions, completion, documents, lifecycle
from lsp_server.services import Services


def register(server: LanguageServer, services: Services) -> None:
    for module in (lifecycle, documents, completion, actions, acceptance):
        module.register(server, services)
