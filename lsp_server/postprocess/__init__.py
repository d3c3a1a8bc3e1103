"""Post-processing: the model's raw answer + Context -> the text to insert ("" = nothing).

One filter per module, each ending with ``FILTER = Filter(apply, wrong_start=..., stop=...)``
(``_filter.Filter``): its cut ``apply(text, ctx) -> str``, whether a drop is a wrong start the
completion stage re-decodes, and its streaming stop rule where it has one. ``pipeline.FILTERS``
is the one place that lists them in order; ``pipeline.WRONG_START`` and ``pipeline.should_stop``
(which lets the engine stop streaming where the filters would cut anyway) are built from it.
Modules starting with ``_`` are shared helpers, not filters. Every filter has golden cases in
``tests/golden/postprocess/<filter>/``, the folder named after its module.
"""
