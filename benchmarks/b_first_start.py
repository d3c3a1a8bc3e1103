"""First start: how long until the first suggestion, with ``model: 0.5b`` and with ``model:
auto`` when the 1.5B is installed but not yet measured on this machine (issue "speed", item 4:
the first suggestion must come no later than with the 0.5B alone), and when ``auto`` switched.

Each run starts a fresh server over stdio, opens ``textwrap.py`` and asks for an inline
completion at line 120 every 250 ms from ``initialize`` on until one is not empty; then (auto)
keeps the document idle and polls ``infill/status`` until the served model changes or
``--follow`` seconds pass, and asks once more. The remembered verdict (``auto-model.json`` in
the user cache) is moved aside for the auto run and put back afterwards.

    python -m benchmarks.b_first_start
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
import time
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.lsp_client import SERVER_CMD, LspClient

SITE = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py", 119, 8)  # 0-based line, column


def served(status: dict) -> str:
    model = status.get("model") or {}
    return Path(str(model.get("path", "?"))).name


def first_start(model: str, follow_s: float) -> dict:
    path, line, column = SITE
    uri = path.resolve().as_uri()
    text = path.read_text(encoding="utf-8")
    log = RESULTS / f"first-start-{model}.log"
    started = time.perf_counter()
    row: dict = {"model": model}
    command = [*SERVER_CMD, "--log-level", "INFO"]
    with LspClient(command, init_options={"model": model}, stderr_log=log) as client:
        client.initialize()
        client.open(uri, text)
        while True:
            answer, _ = client.inline_completion(uri, line, column)
            if answer.strip():
                break
            time.sleep(0.25)
        row["firstSuggestionS"] = round(time.perf_counter() - started, 2)
        first_model = served(client.status())
        row["firstModel"] = first_model
        deadline = time.perf_counter() + follow_s
        while model == "auto" and time.perf_counter() < deadline:
            status = client.status()
            if served(status) != first_model:
                row["switchedAfterS"] = round(time.perf_counter() - started, 2)
                row["switchedTo"] = served(status)
                row["reason"] = ((status.get("model") or {}).get("choice") or {}).get("reason")
                asked = time.perf_counter()
                answer, _ = client.inline_completion(uri, line, column)
                row["afterSwitchMs"] = round((time.perf_counter() - asked) * 1000)
                break
            time.sleep(0.5)
        else:
            if model == "auto":  # no switch: what auto decided, and why
                choice = (client.status().get("model") or {}).get("choice") or {}
                row["reason"] = choice.get("reason")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--follow", type=float, default=90.0, help="seconds to wait for a switch")
    args = parser.parse_args(argv)
    from lsp_server.paths import cache_dir

    verdicts = cache_dir() / "auto-model.json"
    aside = verdicts.with_name("auto-model.json.b_first_start")
    rows = [first_start("0.5b", 0)]
    had_verdicts = verdicts.exists()
    if had_verdicts:
        shutil.move(verdicts, aside)
    try:
        rows.append(first_start("auto", args.follow))
    finally:  # the machine's verdicts as they were
        if had_verdicts:
            shutil.move(aside, verdicts)
        else:
            verdicts.unlink(missing_ok=True)
    for row in rows:
        print(row, file=sys.stderr)
    print(f"{'model':6} {'first suggestion s':>19} {'served first':40} {'switched after s':>17}")
    for row in rows:
        print(
            f"{row['model']:6} {row['firstSuggestionS']:19.2f} {row['firstModel']:40} "
            f"{row.get('switchedAfterS', '-')!s:>17} -> {row.get('switchedTo', '-')}, next "
            f"answer {row.get('afterSwitchMs', '-')} ms"
        )
        if row.get("reason"):
            print(f"       auto: {row['reason']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
