"""``infill-lsp stats``: the acceptance statistics file as a table (or JSON), or deleted.

Columns: suggestions shown; accepted in full (and the rate: of those shown); accepted in part;
typed through; rejected; characters accepted; of those, characters still there 5 minutes later
(and their share, over the accepts that were checked: a server stopped within 5 minutes of an
accept checks nothing for it); the median latency of the suggestions shown.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from lsp_server.stats.store import StatsStore, StoreUnreadable, stats_path
from lsp_server.stats.summary import Totals, summarize

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "": 86_400}
COLUMNS = (
    "shown",
    "accepted",
    "rate",
    "partial",
    "typed",
    "rejected",
    "chars accepted",
    "kept 5m",
    "p50 ms",
)


def parse_since(text: str) -> float:
    """A span back from now (``7d``, ``12h``, ``30m``, ``2w``; a bare number is days) in
    seconds; ValueError when it does not read."""
    match = _SPAN.match(text or "")
    if match is None:
        raise ValueError(f"expected a span such as 7d, 12h, 30m or 2w, got {text!r}")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _cells(totals: Totals) -> list[str]:
    kept_rate, p50 = totals.kept_rate(), totals.p50_ms()
    kept = "-" if kept_rate is None else f"{totals.kept['kept5m']} ({kept_rate:.0%})"
    return [
        str(totals.shown),
        str(totals.outcomes["accepted"]),
        f"{totals.rate:.1%}",
        str(totals.outcomes["partial"]),
        str(totals.outcomes["typed"]),
        str(totals.outcomes["rejected"]),
        str(totals.chars_accepted),
        kept,
        "-" if p50 is None else f"{p50:.0f}",
    ]


def table(groups: dict[str, Totals], by: str | None) -> str:
    """One row per group (largest first), then the total when grouped."""
    rows = sorted(groups.items(), key=lambda item: (-item[1].shown, item[0]))
    if by is not None:
        total = Totals()
        for _name, totals in rows:
            _merge(total, totals)
        rows.append(("all", total))
    lines = [[by or "", *COLUMNS]] + [[name, *_cells(totals)] for name, totals in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    aligned = (
        [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        for line in lines
    )
    return "\n".join("  ".join(cells).rstrip() for cells in aligned)


def _merge(into: Totals, more: Totals) -> None:
    into.shown += more.shown
    into.chars_accepted += more.chars_accepted
    into.latencies += more.latencies
    for name, count in more.outcomes.items():
        into.outcomes[name] += count
    for check in more.kept:
        into.kept[check] += more.kept[check]
        into.checked[check] += more.checked[check]


def run(since: str | None, by: str | None, as_json: bool, delete: bool) -> int:
    """The command's body: 0, or 1 after saying on stderr why not."""
    path = stats_path()
    store = StatsStore(path, report=lambda message: print(message, file=sys.stderr))
    if delete:
        if not store.delete():
            return 1
        print(f"deleted {path}", file=sys.stderr)
        return 0
    try:
        start = time.time() - parse_since(since) if since else 0.0
        groups = summarize(store.suggestions(start), by)
    except ValueError as exc:
        print(f"infill-lsp stats: {exc}", file=sys.stderr)
        return 2
    except StoreUnreadable as exc:
        print(
            f"infill-lsp stats: the statistics cannot be read ({exc}); a corrupt file is "
            "created again at the server's next write, or delete it: infill-lsp stats --delete",
            file=sys.stderr,
        )
        return 1
    if as_json:
        print(json.dumps({name: t.to_wire() for name, t in groups.items()}, indent=2))
        return 0
    print(_heading(path, since), file=sys.stderr)
    if not groups:
        print("no suggestions counted yet", file=sys.stderr)
        return 0
    print(table(groups, by))
    return 0


def _heading(path: Path, since: str | None) -> str:
    span = f"the last {since}" if since else "everything kept (90 days at most)"
    return f"acceptance statistics in {path}, {span}:"
