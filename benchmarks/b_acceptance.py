"""Acceptance replay: the server's acceptance statistics from a simulated user (issue 26).

    python -m benchmarks.b_acceptance                  # the default sites, 3 languages
    python -m benchmarks.b_acceptance --site FILE:LINE:LINES --think 0

The real server (default settings, default model) over LSP stdio, statistics written to a
scratch file (``$INFILL_LSP_STATS`` = ``benchmarks/results/acceptance-stats.sqlite3``, deleted
first: the user's own ``stats.sqlite3`` is never touched). Each site is ``LINES`` whole lines of
a real file no one here wrote (CPython's stdlib, npm's own sources, zlib's examples; a site
whose file is missing is skipped), taken out of the document and typed back, as B2 does
(``didChange`` + an automatic-trigger ``textDocument/inlineCompletion`` per keystroke, waiting
for each answer), one document per site. By default the user never pauses (as B2); with
``--think S`` they rest S seconds on arriving and before each new line, and the editor signals
the cursor there (``infill/cursor``, as our extensions do). (A trial with 2.5 s on one site saw
no better acceptance and a p95 of 5 s: the idle catch-up that the pause starts is in the way of
the next key.)

**Acceptance is simulated.** For each suggestion shown the user (``plan``):

- accepts it in full when the text they were going to type starts with it (B2's rule, without
  trimming: an editor inserts the whole item);
- else accepts it in part, the way the accept-line / accept-word keys cut it, as long as the
  next line (Neovim's ``<M-j>``: up to the item's next newline) or the next word (VS Code's
  ``acceptNextWord``: a word, or the run of other characters or blanks before it) is what they
  were going to type, when that saves at least ``PARTIAL_MIN`` characters, not blanks only;
- else keeps typing (the server counts the suggestion as typed through or rejected, by its own
  rules). This user takes every match of 3 characters or more, so "typed through" is rare here:
  only where the match is shorter or starts with blanks (indentation typed through).

The rate therefore says how often the model predicted the author's next text, not what a human
would have chosen.

An accept is what an editor does: the text is inserted (``didChange``), THEN the item's command
runs (``workspace/executeCommand`` ``infill.accepted`` ``{id, kind: "full"}``, or ``{id, kind:
"word" | "line", length}``): VS Code's inline completion controller applies the edit and then
executes ``item.command``, and the Neovim plugin inserts, then sends the command. Then the
editor asks again at the new cursor.

**Kept characters.** The server checks them 30 s and 5 min after an accept and at the next
didSave; a replay does not wait 5 minutes. After a site is typed, the user deletes the back half
of the longest text accepted in full there (shown and accepted at once, nothing typed into it),
saves (``didSave``: the save check runs) and closes the document: "kept at save" is what the
server found then. The CLI table's "kept 5m" stays empty (no 5-minute check ran).

At the end: the ``infill-lsp stats --by language`` and ``--by mode`` tables (the CLI against the
scratch file, after the server stopped and wrote everything), ``infill/status``'s acceptance
totals, and the cross-checks: the store against the status, and both against what the client
sent (accepts, partial accepts, characters, kept at save).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.b2_typing_replay import Site
from benchmarks.common import RESULTS, median, p95, parse_sets
from benchmarks.lsp_client import AUTOMATIC, SERVER_CMD, LspClient, utf16_position
from lsp_server.stats.store import STATS_ENV
from lsp_server.syntax.languages import EXTENSIONS

STDLIB = Path(sysconfig.get_paths()["stdlib"])
NPM = Path("/usr/lib/node_modules/npm/lib")  # npm's own sources (Debian's nodejs package)
ZLIB = Path("/usr/share/doc/zlib1g-dev/examples")  # zlib's examples (zlib1g-dev)
# (file, first line, lines typed): function bodies, whole lines
DEFAULT_SITES = [
    (STDLIB / "textwrap.py", 356, 3),
    (STDLIB / "fnmatch.py", 50, 8),
    (STDLIB / "shlex.py", 80, 7),
    (NPM / "utils" / "format-bytes.js", 15, 9),
    (NPM / "utils" / "get-workspaces.js", 24, 6),
    (ZLIB / "zpipe.c", 100, 9),
    (ZLIB / "zpipe.c", 111, 8),
]
ACCEPTED_COMMAND = "infill.accepted"
CURSOR_METHOD = "infill/cursor"
CURSOR_DELAY_S = 0.15  # as B6: the notification once the cursor rests
PARTIAL_MIN = 3  # a partial accept saves at least this many characters (fewer are typed)
# VS Code's default word definition (``acceptNextWord`` cuts with the language's; Python's,
# JavaScript's and C's differ from it only in details that do not matter here)
WORD = re.compile(r"(-?\d*\.\d\w*)|([^`~!@#$%^&*()\-=+\[{\]}\\|;:'\",.<>/?\s]+)")
WIRE_FIELDS = (
    "shown",
    "accepted",
    "partial",
    "typedThrough",
    "rejected",
    "charsAccepted",
    "charsKept30s",
    "charsKeptSave",
)


# -- what the simulated user accepts (pure) ------------------------------------------------------
def next_word(text: str) -> str:
    """What VS Code's "accept next word" takes of ``text``: the word it starts with, else what
    comes before the first word, but no further than the end of the first run of blanks."""
    m1 = WORD.search(text)
    until = len(text) if m1 is None else (m1.end() if m1.start() == 0 else m1.start())
    m2 = re.search(r"\s+", text)
    if m2 is not None and m2.end() < until:
        until = m2.end()
    return text[:until]


def next_line(text: str) -> str | None:
    """What Neovim's "accept line" takes of ``text``: up to its first newline (its second when
    it starts with one); None when there is no such newline (the key accepts all of it)."""
    stop = text.find("\n", 1 if text.startswith("\n") else 0)
    return None if stop < 0 else text[:stop]


def plan(suggestion: str, remaining: str, min_partial: int = PARTIAL_MIN) -> list[tuple[str, int]]:
    """The accepts the simulated user makes of ``suggestion`` when ``remaining`` is what they
    were going to type: ``[("full", len)]``, partial steps ``[("line" | "word", length), ...]``
    (lines first, then words, as long as they match), or ``[]`` (keep typing)."""
    if suggestion and remaining.startswith(suggestion):
        return [("full", len(suggestion))]
    steps: list[tuple[str, int]] = []
    done = 0
    while done < len(suggestion):
        rest = suggestion[done:]
        line = next_line(rest)
        if line is not None and remaining.startswith(line, done):
            steps.append(("line", len(line)))
            done += len(line)
            continue
        word = next_word(rest)
        if word and remaining.startswith(word, done):
            steps.append(("word", len(word)))
            done += len(word)
            continue
        break
    taken = suggestion[:done]
    if done < min_partial or not taken.strip():
        return []
    return steps


def lines_site(path: str | Path, line: int, lines: int) -> Site:
    """B2's ``Site`` covering ``lines`` whole lines from ``line`` (1-based), without the last
    line's newline (the cursor ends where the line ends)."""
    rows = Path(path).read_text(encoding="utf-8").split("\n")
    if not 1 <= line <= len(rows):
        raise SystemExit(f"{path} has {len(rows)} lines, not {line}")
    chars = len("\n".join(rows[line - 1 : line - 1 + lines]))
    return Site(str(path), line, chars)


@dataclass
class Accept:
    site: int
    id: str
    kind: str  # full / word / line
    length: int
    offset: int  # where its text starts in the document (str offset)
    first_show: bool  # the suggestion was shown for the first time in this answer
    counted: bool = False  # the command's answer


def damage(accepts: list[Accept]) -> Accept | None:
    """Which accepted text the user later cuts in half: the longest accepted in full on its
    first showing (all of the suggestion's characters are accepted ones), of 4 characters or
    more."""
    whole = [a for a in accepts if a.kind == "full" and a.first_show and a.length >= 4]
    return max(whole, key=lambda a: a.length, default=None)


# -- the replay ----------------------------------------------------------------------------------
@dataclass
class Request:
    site: int
    typed: int
    latency_ms: float
    id: str | None
    chars: int  # the suggestion's length (0: none)
    action: str  # "" (typed on), "full", "partial"
    accepted: int


@dataclass
class Tally:
    requests: list[Request] = field(default_factory=list)
    accepts: list[Accept] = field(default_factory=list)
    shown: set[str] = field(default_factory=set)
    damaged: list[tuple[Accept, int]] = field(default_factory=list)  # (accept, chars deleted)

    def expected(self) -> dict[str, int]:
        """What the server should count from what this client did."""
        full = {a.id for a in self.accepts if a.kind == "full"}
        partial = {a.id for a in self.accepts if a.kind != "full"} - full
        chars = sum(a.length for a in self.accepts)
        return {
            "shown": len(self.shown),
            "accepted": len(full),
            "partial": len(partial),
            "charsAccepted": chars,
            "charsKeptSave": chars - sum(d for _, d in self.damaged),
            "commandsSent": len(self.accepts),
            "commandsCounted": sum(a.counted for a in self.accepts),
        }


class Editor:
    """One document in the server, edited the way an editor does; the cursor is a str offset."""

    def __init__(self, client: LspClient, uri: str, text: str, language: str) -> None:
        self.client, self.uri, self.text = client, uri, text
        self.version = 1
        client.open(uri, text, language_id=language)

    def insert(self, offset: int, text: str) -> None:
        self.version += 1
        at = utf16_position(self.text, offset)
        self.client.change(self.uri, self.version, at, at, text)
        self.text = self.text[:offset] + text + self.text[offset:]

    def delete(self, start: int, end: int) -> None:
        self.version += 1
        a, b = utf16_position(self.text, start), utf16_position(self.text, end)
        self.client.change(self.uri, self.version, a, b, "")
        self.text = self.text[:start] + self.text[end:]

    def ask(self, offset: int) -> tuple[str, str | None, float]:
        """(insert text, the item's suggestion id, latency ms) of an automatic request."""
        line, character = utf16_position(self.text, offset)
        params = LspClient.inline_params(self.uri, line, character, AUTOMATIC)
        started = time.perf_counter()
        result = self.client.request("textDocument/inlineCompletion", params, 300.0)
        ms = (time.perf_counter() - started) * 1000
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        if not items:
            return "", None, ms
        text = LspClient.first_insert_text(result)
        command = items[0].get("command") or {}
        args = command.get("arguments") or [{}]
        return text, args[0].get("id") if command.get("command") == ACCEPTED_COMMAND else None, ms

    def rest(self, offset: int, seconds: float) -> None:
        """The cursor rests at ``offset`` (the extension's ``infill/cursor``) for ``seconds``."""
        if seconds <= 0:
            return
        time.sleep(min(CURSOR_DELAY_S, seconds))
        line, character = utf16_position(self.text, offset)
        self.client.notify(
            CURSOR_METHOD,
            {"textDocument": {"uri": self.uri}, "position": {"line": line, "character": character}},
        )
        time.sleep(max(0.0, seconds - CURSOR_DELAY_S))

    def save(self) -> None:
        self.client.notify("textDocument/didSave", {"textDocument": {"uri": self.uri}})

    def close(self) -> None:
        self.client.close(self.uri)


def accept_command(client: LspClient, suggestion: str, kind: str, length: int) -> bool:
    argument: dict[str, Any] = {"id": suggestion, "kind": kind}
    if kind != "full":
        argument["length"] = length
    result = client.request(
        "workspace/executeCommand", {"command": ACCEPTED_COMMAND, "arguments": [argument]}
    )
    return bool((result or {}).get("counted"))


def replay_site(
    client: LspClient, index: int, site: Site, tally: Tally, think: float, cut: bool
) -> None:
    document, cursor, target = site.load()
    language = EXTENSIONS.get(Path(site.path).suffix, "plaintext")
    uri = f"file:///infill-acceptance/{index}/{Path(site.path).name}"
    editor = Editor(client, uri, document, language)
    typed = 0
    site_accepts: list[Accept] = []
    editor.rest(cursor, think)  # arrived: the cursor rests, the user reads

    def ask() -> tuple[str, str | None, bool]:
        """(text, id, shown for the first time) of the editor's request at the cursor."""
        text, sid, ms = editor.ask(cursor + typed)
        first = sid is not None and sid not in tally.shown
        if sid is not None:
            tally.shown.add(sid)
        tally.requests.append(Request(index, typed, round(ms, 1), sid, len(text), "", 0))
        return text, sid, first

    answer: tuple[str, str | None, bool] | None = None  # nothing is asked before the first key
    while True:
        if answer is not None:
            text, sid, first = answer
            steps = plan(text, target[typed:]) if sid is not None else []
            if steps:
                tally.requests[-1].action = "full" if steps[0][0] == "full" else "partial"
                tally.requests[-1].accepted = sum(n for _, n in steps)
                for kind, length in steps:  # the editor inserts the text, then runs the command
                    offset = cursor + typed
                    editor.insert(offset, target[typed : typed + length])
                    typed += length
                    accept = Accept(index, sid, kind, length, offset, first)
                    accept.counted = accept_command(client, sid, kind, length)
                    site_accepts.append(accept)
                    tally.accepts.append(accept)
                answer = ask()  # the editor asks again at the new cursor
                continue
        if typed >= len(target):
            break
        if typed and target[typed - 1] == "\n":
            editor.rest(cursor + typed, think)  # a new line: the user thinks first
        editor.insert(cursor + typed, target[typed])
        typed += 1
        answer = ask()
        print(
            f"[site {index}] {typed}/{len(target)} chars, {len(tally.requests)} requests, "
            f"{len(tally.accepts)} accepts",
            end="\r",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    victim = damage(site_accepts) if cut else None
    if victim is not None:  # later, half of an accepted text is deleted again
        deleted = victim.length // 2
        end = victim.offset + victim.length
        editor.delete(end - deleted, end)
        tally.damaged.append((victim, deleted))
    editor.save()
    editor.close()


# -- the report ----------------------------------------------------------------------------------
def cli(args: list[str], env: dict[str, str]) -> str:
    """``infill-lsp stats ARGS`` against the scratch file: its stdout (the table or JSON)."""
    done = subprocess.run(
        [sys.executable, "-m", "lsp_server", "stats", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"infill-lsp stats {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def compare(rows: dict[str, dict[str, Any]], fields: tuple[str, ...]) -> list[str]:
    """Lines saying where the sources (name -> totals) disagree; [] when they agree."""
    problems = []
    for name in fields:
        values = {source: totals.get(name) for source, totals in rows.items() if name in totals}
        if len(set(values.values())) > 1:
            problems.append(f"{name}: " + ", ".join(f"{s} {v}" for s, v in values.items()))
    return problems


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for row in fh:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b_acceptance", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--site", action="append", default=[], metavar="FILE:LINE:LINES", help="repeatable"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds the user rests at each new line (%(default)s)",
    )
    parser.add_argument("--no-cut", action="store_true", help="no deletion before the save")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model", help="GGUF path (default: the embedded model)")
    parser.add_argument("--json", type=Path, default=RESULTS / "acceptance.jsonl")
    args = parser.parse_args(argv)
    options = parse_sets(args.set)
    if args.model:
        options["modelPath"] = args.model
    specs = [s.rsplit(":", 2) for s in args.site] or [
        (str(p), str(line), str(n)) for p, line, n in DEFAULT_SITES
    ]
    sites = []
    for path, line, lines in specs:
        if not Path(path).is_file():
            print(f"skipped (not here): {path}", file=sys.stderr)
            continue
        sites.append(lines_site(path, int(line), int(lines)))
    if not sites:
        raise SystemExit("no site to replay")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stats_file = RESULTS / "acceptance-stats.sqlite3"
    for leftover in RESULTS.glob(stats_file.name + "*"):
        leftover.unlink()  # a fresh scratch file (and its -wal/-shm)
    os.environ[STATS_ENV] = str(stats_file)  # the server inherits it; the user's file is untouched
    env = {**os.environ}
    tally = Tally()
    started = time.perf_counter()
    log = RESULTS / "acceptance-server.log"
    with LspClient([*SERVER_CMD, "--log-level", "INFO"], init_options=options, stderr_log=log) as c:
        c.initialize()
        ready = c.wait_ready()
        model = (ready.get("model") or {}).get("name") or (ready.get("model") or {}).get("path")
        print(f"[infill-lsp] ready: {model}; stats in {stats_file}", file=sys.stderr, flush=True)
        for i, site in enumerate(sites, 1):
            replay_site(c, i, site, tally, args.think, not args.no_cut)
        replay_s = time.perf_counter() - started
        # the store is written within 5 s; infill/status reads it at most once a minute
        deadline = time.monotonic() + 75
        while True:
            status = c.status()["acceptance"]
            stored = status.get("stored") or {}
            if stored.get("shown") == status["session"]["shown"] or time.monotonic() > deadline:
                break
            time.sleep(2)
    session = status["session"]

    by_language = cli(["--by", "language"], env)
    by_mode = cli(["--by", "mode"], env)
    store = json.loads(cli(["--json"], env)).get("all", {})
    expected = tally.expected()
    sources = {"store (CLI)": store, "infill/status session": session}
    if stored:
        sources["infill/status stored"] = stored
    disagree = compare(sources, WIRE_FIELDS)
    client = {k: v for k, v in expected.items() if k in WIRE_FIELDS}
    versus_client = compare({"client": client, "server": session}, tuple(client))
    if expected["commandsCounted"] != expected["commandsSent"]:
        versus_client.append(
            f"commands answered counted: {expected['commandsCounted']} of "
            f"{expected['commandsSent']}"
        )

    lat = [r.latency_ms for r in tally.requests]
    cut = sum(d for _, d in tally.damaged)
    load = os.getloadavg()[0]
    print(
        f"Acceptance replay (SIMULATED acceptance), {time.strftime('%Y-%m-%d')}, {cpu_name()}, "
        f"{os.cpu_count()} CPUs, load {load:.2f}; model {Path(str(model)).name}"
    )
    print(
        f"{len(sites)} sites, {sum(len(s.load()[2]) for s in sites)} characters re-typed, "
        f"{len(tally.requests)} requests (p50 {median(lat):.0f} ms, p95 {p95(lat):.0f} ms), "
        f"think {args.think:g} s per line, replay {replay_s:.0f} s"
    )
    for i, site in enumerate(sites, 1):
        print(f"  site {i}: {site.path}:{site.line}, {site.chars} chars")
    print("\n$ infill-lsp stats --by language")
    print(by_language.rstrip())
    print("\n$ infill-lsp stats --by mode")
    print(by_mode.rstrip())
    print(
        f"\nkept at save: {store.get('charsKeptSave')} of {store.get('charsAccepted')} accepted "
        f"characters ({len(tally.damaged)} accepted texts cut in half before the save: "
        f"{cut} characters deleted)"
    )
    print("infill/status acceptance session: " + json.dumps(session))
    print(
        "client sent: "
        + ", ".join(f"{k} {v}" for k, v in expected.items())
        + " (charsKeptSave: accepted characters less those deleted)"
    )
    print(
        "cross-check store vs infill/status: "
        + ("agree" if not disagree else "DISAGREE: " + "; ".join(disagree))
        + (" (stored read too)" if stored else " (stored not read yet: session only)")
    )
    print(
        "cross-check client vs server: "
        + ("agree" if not versus_client else "DISAGREE: " + "; ".join(versus_client))
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as fh:
        for request in tally.requests:
            fh.write(json.dumps({"type": "request", **asdict(request)}) + "\n")
        for accept in tally.accepts:
            fh.write(json.dumps({"type": "accept", **asdict(accept)}) + "\n")
    summary = {
        "sites": [asdict(s) for s in sites],
        "think": args.think,
        "model": model,
        "status": status,
        "store": store,
        "client": expected,
        "disagree": disagree,
        "versusClient": versus_client,
    }
    args.json.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if disagree or versus_client else 0


if __name__ == "__main__":
    sys.exit(main())
