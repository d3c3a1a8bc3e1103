"""Benchmarks for infill-lsp: scripts that print tables and write JSON (not timed tests).

See ``benchmarks/README.md`` for what each one measures and the commands that made the numbers.
"""
