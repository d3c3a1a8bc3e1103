"""infill-lsp: inline fill-in-the-middle completions from a local GGUF code model."""

__version__ = "0.1.0"
