"""Privacy: redaction of secrets and PII from context sent to remote engines."""

from lsp_server.privacy.redact import (
    PLACEHOLDER_RE,
    Finding,
    Redaction,
    contains_placeholder,
    redact,
    redact_around_cursor,
)
from lsp_server.privacy.rules import KINDS

__all__ = [
    "KINDS",
    "PLACEHOLDER_RE",
    "Finding",
    "Redaction",
    "contains_placeholder",
    "redact",
    "redact_around_cursor",
]
