"""Post-processing: the model's raw answer + Context -> the text to insert ("" = nothing).

One filter per module, each ``apply(text, ctx) -> str``; ``pipeline.FILTERS`` is the one place
that lists them in order, and ``pipeline.should_stop`` lets the engine stop streaming where the
filters would cut anyway. Modules starting with ``_`` are shared helpers, not filters. Every
filter has golden cases in ``tests/golden/postprocess/<filter>/``.
"""
