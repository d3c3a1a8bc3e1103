"""Lifecycle, settings and status: initialize, initialized, didChangeConfiguration, shutdown,
``infill/status``."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server.services import Services

STATUS_METHOD = "infill/status"


def register(server: LanguageServer, services: Services) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(params: types.InitializeParams) -> None:
        services.apply_settings(params.initialization_options, "initializationOptions")

    @server.feature(types.INITIALIZED)
    def on_initialized(_params: types.InitializedParams) -> None:
        services.start()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(params: types.DidChangeConfigurationParams) -> None:
        services.apply_settings(params.settings, "settings")

    @server.feature(types.SHUTDOWN)
    def on_shutdown(_params: None) -> None:
        services.shutdown()

    # (``Any``, not ``object``: pygls takes a first parameter annotated with a supertype of the
    # server for the server itself)
    @server.feature(STATUS_METHOD)
    def status(params: Any) -> dict[str, object]:
        """Model state for status bars, tests and benchmarks (stats of the last request);
        with ``{textDocument: {uri}}``, also what the server holds of that document."""
        status = services.status()
        uri = getattr(getattr(params, "textDocument", None), "uri", None)
        if isinstance(uri, str):
            status["document"] = services.documents.describe(uri)
        return status
