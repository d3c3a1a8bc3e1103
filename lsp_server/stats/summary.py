"""What an acceptance event says, and how events add up to totals.

A suggestion shown gets one ``shown`` event; what became of it adds outcome events (``accepted``,
``partial``, ``typed``, ``rejected``) and, after an accept, ``kept*`` events. Its outcome is the
highest ranked of its outcome events (``RANK``): a suggestion settled as typed through or
rejected and then accepted (the accept command came after the edit, or after it was
superseded) counts as accepted, once. The server's session totals and the store's totals follow
this one rule.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

SHOWN = "shown"
# Outcomes, lowest first: the highest one a suggestion reached is its outcome.
RANK = {"rejected": 0, "typed": 1, "partial": 2, "accepted": 3}
# The checks of kept characters after an accept: 30 s, 5 min, the next save.
KEPT = ("kept30s", "kept5m", "keptSave")
ACCEPTS = ("accepted", "partial")  # events whose chars are accepted characters
WIRE = {
    "rejected": "rejected",
    "typed": "typedThrough",
    "partial": "partial",
    "accepted": "accepted",
}


@dataclass(frozen=True)
class Event:
    """One row of the store: no code text, no file name."""

    ts: float  # unix time (s)
    suggestion: str  # the suggestion's id
    kind: str  # SHOWN, an outcome of RANK, or one of KEPT
    language: str
    model: str
    mode: str  # single_line / multi_line
    chars: int = 0  # shown: its length; accepted/partial: chars accepted; typed: chars typed;
    # kept*: accepted chars still there
    latency_ms: float | None = None  # shown only: request to answer


@dataclass(frozen=True)
class Suggestion:
    """One suggestion's events, reduced (the store does it in SQL, ``StatsStore.suggestions``)."""

    language: str
    model: str
    mode: str
    shown: bool
    latency_ms: float | None
    outcome: int | None  # a RANK value, None while no outcome came
    chars_accepted: int
    kept: tuple[int | None, ...]  # per KEPT check: chars kept, None where it did not run


@dataclass
class Totals:
    shown: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RANK, 0))
    chars_accepted: int = 0
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEPT, 0))
    # accepted chars of the suggestions each check ran on: what ``kept`` is a share of
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KEPT, 0))
    latencies: list[float] = field(default_factory=list)

    def add(self, s: Suggestion) -> None:
        if not s.shown:  # its shown event was rotated out: its outcome has no denominator
            return
        self.shown += 1
        if s.outcome is not None:
            self.outcomes[_NAMES[s.outcome]] += 1
        self.chars_accepted += s.chars_accepted
        for check, kept in zip(KEPT, s.kept, strict=True):
            if kept is not None:
                self.kept[check] += kept
                self.checked[check] += s.chars_accepted
        if s.latency_ms is not None:
            self.latencies.append(s.latency_ms)

    @property
    def rate(self) -> float:
        """Accepted in full, of those shown (Sourcegraph's and Copilot's acceptance rate)."""
        return self.outcomes["accepted"] / self.shown if self.shown else 0.0

    def kept_rate(self, check: str = "kept5m") -> float | None:
        checked = self.checked[check]
        return self.kept[check] / checked if checked else None

    def p50_ms(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    def to_wire(self) -> dict[str, object]:
        kept_rate, p50 = self.kept_rate(), self.p50_ms()
        return {
            "shown": self.shown,
            **{WIRE[name]: count for name, count in self.outcomes.items()},
            "rate": round(self.rate, 4),
            "charsAccepted": self.chars_accepted,
            "charsKept30s": self.kept["kept30s"],
            "charsKept5m": self.kept["kept5m"],
            "charsKeptSave": self.kept["keptSave"],
            "keptRate5m": None if kept_rate is None else round(kept_rate, 4),
            "p50LatencyMs": None if p50 is None else round(p50, 1),
        }


_NAMES = {rank: name for name, rank in RANK.items()}
GROUPS = ("language", "model", "mode")


def summarize(rows: Iterable[Suggestion], by: str | None = None) -> dict[str, Totals]:
    """Totals per value of ``by`` (one of ``GROUPS``), or one group "all"."""
    if by is not None and by not in GROUPS:
        raise ValueError(f"expected one of {', '.join(GROUPS)}, got {by!r}")
    out: dict[str, Totals] = {}
    for row in rows:
        key = (getattr(row, by) or "(unknown)") if by else "all"
        out.setdefault(key, Totals()).add(row)
    return out
