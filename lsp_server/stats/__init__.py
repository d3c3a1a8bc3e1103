"""Acceptance statistics, kept on the user's machine: what an event says (``summary``), where
events are stored (``store``: SQLite in the user cache, no code text), how they are summed up
(``summary``), where a suggestion's text went (``region``), which edits write it
(``record``), how much of it is kept (``kept``) and the ``infill-lsp stats`` table
(``report``). The tracker that decides what became of a suggestion is a service
(``services.acceptance``)."""
