"""``engine: llama-server`` with only ``remoteUrl`` set: the server says what it serves
(``/props``: model, slots, per-slot context; ``/tokenize``: its vocabulary, hence the FIM
dialect), each process keeps to one slot, and a server that says nothing still works when the
settings say enough. Against a small stub of llama-server's endpoints (the real server: README's
team section)."""

from __future__ import annotations

import json
import random
import time

import pytest

from lsp_server.completion import PROMPT_MARGIN, fit_budget
from lsp_server.engine.base import CancelToken, GenerationRequest
from lsp_server.engine.remote import discover
from lsp_server.engine.remote.connect import connect
from lsp_server.settings import Settings
from tests.helpers.http_stub import HttpStub, JsonHandler, stubs_of
from tests.helpers.llama_stub import ask

QWEN_SPECIALS = {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>"}
GEMMA_SPECIALS = {"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"}
PROPS = {
    "model_path": "/models/some-model.gguf",
    "total_slots": 4,
    "default_generation_settings": {"n_ctx": 2048},
}


class LlamaServerStub(HttpStub):
    """GET /props, POST /tokenize (one token per special it knows, else one per character),
    POST /completion (one SSE answer)."""

    def __init__(self, *, props=PROPS, specials=QWEN_SPECIALS, lumps=False):
        self.bodies: list[dict] = []
        self.tokenize_s = 0.0  # how long /tokenize takes (a busy server's HTTP threads)
        stub = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                if self.path == "/props" and props is not None:
                    self.send(200, props)
                else:
                    self.send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                stub.bodies.append({"path": self.path, **body})
                if self.path == "/tokenize":
                    time.sleep(stub.tokenize_s)
                    text = body["content"]
                    pieces = [text] if text in specials or lumps else list(text)
                    self.send(
                        200, {"tokens": [{"id": i, "piece": p} for i, p in enumerate(pieces)]}
                    )
                else:
                    event = {"content": "a + b", "stop": True, "timings": {"prompt_n": 5}}
                    self.send(200, f"data: {json.dumps(event)}\n\n".encode(), "text/event-stream")

        self.serve(Handler)


@pytest.fixture
def make_stub():
    with stubs_of(LlamaServerStub) as make:
        yield make


def settings(url: str, **kw) -> Settings:
    return Settings(engine="llama-server", remote_url=url, remote_redact=False, **kw)


def test_only_the_url_set_the_server_says_its_dialect_slots_and_context(make_stub):
    stub = make_stub()
    assert connect(settings(stub.url))[0].slot is None  # by default the server chooses
    engine, described = connect(settings(stub.url, remote_slot=-1))  # one at random
    assert engine.dialect.name == "qwen" and described["dialectFrom"] == "vocabulary"
    assert engine.n_ctx == 2048 and described["nCtxPerSlot"] == 2048  # a slot's share
    assert described["slots"] == 4 and described["model"] == "/models/some-model.gguf"
    assert engine.slot in range(4) and described["slot"] == engine.slot
    assert ask(engine) == "a + b"
    sent = [b for b in stub.bodies if b["path"] == "/completion"][-1]
    assert sent["id_slot"] == engine.slot and sent["cache_prompt"] is True


def test_families_sharing_fim_spellings_are_told_apart_by_their_own_marker(make_stub):
    engine, _ = connect(settings(make_stub(specials=GEMMA_SPECIALS).url))
    assert engine.dialect.name == "codegemma"


def test_the_setting_wins_over_what_the_server_says(make_stub):
    stub = make_stub()
    engine, described = connect(settings(stub.url, remote_fim_dialect="starcoder"))
    assert engine.dialect.name == "starcoder" and described["dialectFrom"] == "setting"
    asked = [b["content"] for b in stub.bodies if b["path"] == "/tokenize"]
    assert not any("fim" in text for text in asked)  # the vocabulary was not asked


def test_a_tokenizer_that_answers_anything_as_one_token_is_not_believed(make_stub, caplog):
    stub = make_stub(lumps=True)  # e.g. a proxy that ignores the request
    engine, described = connect(settings(stub.url, remote_model="starcoder2-3b"))
    assert engine.dialect.name == "starcoder" and described["dialectFrom"] == "name"
    assert any("any text as one token" in r.getMessage() for r in caplog.records)


def test_a_server_without_props_or_fim_tokens_falls_back_to_the_name(make_stub, caplog):
    stub = make_stub(props=None, specials=set())
    with pytest.raises(ValueError, match="set remoteFimDialect"):
        connect(settings(stub.url))
    engine, described = connect(settings(stub.url, remote_model="qwen2.5-coder-7b"))
    assert engine.dialect.name == "qwen" and described["dialectFrom"] == "name"
    assert engine.slot is None and engine.n_ctx == Settings().context_size  # nothing said
    assert any("no /props" in r.getMessage() for r in caplog.records)


def test_a_pinned_slot_goes_with_an_outage_told_once(make_stub, caplog):
    """llama-server never refuses a slot id (an old build defers a request for a slot it lacks
    until the request times out): the pin is dropped when the engine goes down."""
    from lsp_server.engine.remote.http import RemoteError

    engine, _ = connect(settings(make_stub().url, remote_slot=1))
    assert engine.slot == 1 and ask(engine) == "a + b"
    engine._went_down(RemoteError("the engine broke off: timed out", unreachable=True))
    engine._went_down(RemoteError("the engine broke off: timed out", unreachable=True))
    assert engine.slot is None
    assert len([r for r in caplog.records if "no longer pinned" in r.getMessage()]) == 1


def test_the_model_the_server_reports_names_the_engine(make_stub):
    engine, _ = connect(settings(make_stub().url))
    assert engine.name == "llama-server:some-model.gguf"  # repoContext: auto reads it


def test_slots_are_spread_and_one_slot_is_not_pinned():
    assert discover.pick_slot(1) is None and discover.pick_slot(0) is None
    picked = {discover.pick_slot(4, random.Random(seed)) for seed in range(40)}
    assert picked == {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("prefix", "suffix", "room", "expected"),
    [
        (1500, 500, 4096 - 128, (1500, 500)),  # fits: as set
        (1500, 500, 2048 - 128, (1428, 476)),  # a 2,048-token slot: scaled down together
        (1500, 500, 0, (1500, 500)),  # unknown room: as set
    ],
)
def test_the_windows_fit_the_engines_context(prefix, suffix, room, expected):
    got = fit_budget(prefix, suffix, room)
    assert got == expected
    if got != (prefix, suffix):
        assert sum(got) <= room - PROMPT_MARGIN


def test_the_slot_setting_pins_a_slot_leaves_it_to_the_server_or_refuses_one_out_of_range(
    make_stub, caplog
):
    url = make_stub().url
    assert connect(settings(url, remote_slot=2))[0].slot == 2
    assert connect(settings(url, remote_slot=-2))[0].slot is None  # the server chooses
    assert connect(settings(url, remote_slot=-1))[0].slot in range(4)
    engine, _ = connect(settings(url, remote_slot=9))  # the server has 4
    assert engine.slot is None and ask(engine) == "a + b"
    assert any("remoteSlot 9: the server has 4 slots" in r.getMessage() for r in caplog.records)


def test_an_engine_that_accepts_and_never_answers_does_not_hold_up_the_start(monkeypatch):
    """/props and /tokenize are asked with a short timeout; then the name decides."""
    import socket
    import time

    from lsp_server.engine.remote import connect as connect_module
    from lsp_server.engine.remote import http as http_module

    monkeypatch.setattr(connect_module, "DISCOVERY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(http_module, "RETRY_DELAYS_S", ())
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        engine, described = connect(settings(url, remote_model="qwen2.5-coder-7b"))
        assert time.monotonic() - started < 3
    assert described["dialectFrom"] == "name" and engine.slot is None


def test_a_tokenize_that_is_never_answered_puts_the_engine_down_and_prompts_estimated(
    monkeypatch,
):
    """A hung llama-server: the first prompt's /tokenize waits the short question timeout,
    and /health's; the outage is told once, and until the backoff passes prompts are
    estimated at once and requests fail fast, instead of each waiting on /tokenize and then
    on /completion."""
    import socket
    import time

    from lsp_server.engine.remote import connect as connect_module
    from lsp_server.engine.remote import http as http_module
    from lsp_server.engine.remote.http import HEALTH_TIMEOUT_S, RemoteError
    from lsp_server.engine.remote.vocab import estimate_pieces

    monkeypatch.setattr(connect_module, "DISCOVERY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(http_module, "RETRY_DELAYS_S", ())
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        engine, described = connect(settings(url, remote_model="qwen2.5-coder-7b"))
        assert described["tokens"] == "server"
        reports: list[tuple[str, str]] = []
        engine.on_health = lambda state, message: reports.append((state, message))
        started = time.monotonic()
        text = "def add(a, b):\n    return a"
        assert engine.detokenize(engine.tokenize(text)) == text  # estimated pieces
        assert len(engine.tokenize(text)) == len(estimate_pieces(text))
        # the question's timeout, then /health's: not remoteTimeoutMs (30 s)
        assert 0.3 + HEALTH_TIMEOUT_S - 0.1 < time.monotonic() - started < 10
        assert [state for state, _ in reports] == ["down"]
        assert "did not answer within 0.3 s" in reports[0][1]
        started = time.monotonic()
        for i in range(5):  # while it is down: no question and no request waits for it
            prompt = engine.tokenize(f"x{i} = ")
            with pytest.raises(RemoteError, match="next try in"):
                engine.generate(GenerationRequest(prompt, 8, max_time_ms=1500), CancelToken())
        assert time.monotonic() - started < 5 * 0.3 and len(reports) == 1


def test_a_tokenize_too_slow_from_a_live_engine_is_estimated_and_no_outage(make_stub, monkeypatch):
    """A busy llama-server answers /tokenize later than the question's timeout, but answers
    /health: prompts are estimated (and it is not asked again for a while), completions go
    on, and no outage is told."""
    from lsp_server.engine.remote import connect as connect_module
    from lsp_server.engine.remote.http import HEALTH_TIMEOUT_S
    from lsp_server.engine.remote.vocab import estimate_pieces

    monkeypatch.setattr(connect_module, "DISCOVERY_TIMEOUT_S", 0.3)
    stub = make_stub()
    engine, described = connect(settings(stub.url))
    assert described["tokens"] == "server"
    reports: list[tuple[str, str]] = []
    engine.on_health = lambda state, message: reports.append((state, message))
    stub.tokenize_s = 1.0
    text = "def add(a, b):\n    return a"
    started = time.monotonic()
    assert engine.detokenize(engine.tokenize(text)) == text
    assert len(engine.tokenize(text)) == len(estimate_pieces(text))
    assert time.monotonic() - started < 0.3 + HEALTH_TIMEOUT_S + 2  # one question, not more
    asked = sum(b["path"] == "/tokenize" for b in stub.bodies)
    assert ask(engine) == "a + b"  # not "next try in": the engine is not down
    assert sum(b["path"] == "/tokenize" for b in stub.bodies) == asked  # estimated meanwhile
    assert reports == []


def test_a_server_not_there_at_start_is_an_unreachable_engine_unless_the_name_tells(monkeypatch):
    import socket

    from lsp_server.engine.remote import http as http_module
    from lsp_server.engine.remote.http import RemoteError

    monkeypatch.setattr(http_module, "RETRY_DELAYS_S", ())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens
    with pytest.raises(RemoteError, match="cannot ask the engine what it serves") as caught:
        connect(settings(url))
    assert caught.value.unreachable
    _, described = connect(settings(url, remote_model="qwen2.5-coder-7b"))
    assert described["dialectFrom"] == "name"  # the requests then meet the backoff


async def test_the_model_service_tries_a_remote_engine_again_until_it_is_there(monkeypatch):
    """A team box still loading its model (or down) when the editor starts: state "error",
    told once, loaded again with backoff, then ready."""
    import asyncio

    from lsp_server import loader
    from lsp_server.engine.remote.http import RemoteError
    from lsp_server.loader import LoadedModel
    from lsp_server.services import model as model_service
    from tests.helpers.fake_engine import FakeEngine
    from tests.unit.test_handlers import Harness

    engine = FakeEngine(answer=lambda _p: "a + b")
    answers = [RemoteError("the engine answered HTTP 503: loading", unreachable=True)] * 2
    tries = []

    def connect(_prepared):
        tries.append(1)
        if answers:
            raise answers.pop()
        return LoadedModel(None, engine, {"engine": "llama-server"})

    monkeypatch.setattr(loader, "prepare", lambda settings, _progress=None: settings)
    monkeypatch.setattr(loader, "load_prepared", connect)
    monkeypatch.setattr(model_service, "REMOTE_RETRY_S", (0.01,))
    h = Harness(engine, prefetch=False)
    model = h.services.model
    model.loaded, model.state = None, "starting"
    await model.load()
    assert model.state == "error" and "trying again in" in model.message
    for _ in range(200):
        if model.state == "ready":
            break
        await asyncio.sleep(0.01)
    assert model.state == "ready" and len(tries) == 3
    assert len([m for m in h.client.told if "503" in m]) == 1  # told once, not per try
    model.shutdown()
