"""Helpers for end-to-end tests: the real server process, the real default model, over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "lsp_server"]
READY_TIMEOUT_S = 300  # first run joins the 491 MB model from its chunks


def config(env: dict[str, str] | None = None) -> ClientServerConfig:
    return ClientServerConfig(server_command=SERVER, server_env={**os.environ, **(env or {})})


def capabilities(encodings: list[str] | None = None) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=encodings)
        if encodings
        else None,
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities(),
            completion=types.CompletionClientCapabilities(),
        ),
    )


async def initialize(
    client: LanguageClient,
    options: dict[str, Any] | None = None,
    encodings: list[str] | None = None,
) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(encodings),
            initialization_options=options or {},
            root_uri=Path.cwd().as_uri(),
        )
    )


def plain(value: Any) -> Any:
    """pygls hands back custom-method results as namedtuples: make them plain dicts/lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def status(client: LanguageClient) -> dict[str, Any]:
    return plain(await client.protocol.send_request_async("infill/status", {}))


async def wait_state(client: LanguageClient, wanted: tuple[str, ...] = ("ready",)) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        st = await status(client)
        if st["state"] in wanted or st["state"] == "error":
            return st
        await asyncio.sleep(0.2)
    raise TimeoutError(f"server never reached {wanted}: {st}")


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )


def configure(client: LanguageClient, **settings: Any) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"infill": settings})
    )


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> str:
    """Insert text of the first inline item, or "" when the server offered none."""
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    if not items:
        return ""
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value
