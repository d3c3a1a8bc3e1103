"""Request params the protocol could read but the server cannot serve: answered with
``InvalidParams`` and the reason, the same way for every method.

Params that do not deserialize at all are answered by ``lsp_server.protocol``; here are the
checks that need the document: a position on a line past its end (a character past its line's
end is not one: LSP clamps it, ``services.documents.clamped``).
"""

from __future__ import annotations

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from lsp_server.services import Services


def invalid(method: str, reason: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(f"{method}: invalid params: {reason}")


def check_positions(services: Services, method: str, uri: str, *positions: types.Position) -> None:
    """Raise ``InvalidParams`` when one of ``positions`` lies outside the open document."""
    outside = services.documents.position_outside(uri, *positions)
    if outside:
        raise invalid(method, outside)
