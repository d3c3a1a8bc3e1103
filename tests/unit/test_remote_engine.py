"""Remote engines' wire protocols and failure handling, against small stub HTTP servers that
speak each engine's streaming format (the real OpenAI-compatible server is in
tests/e2e/test_remote.py): llama-server SSE, Ollama JSON lines, OpenAI SSE; stopping early
closes the stream; errors say what to do; a dead engine fails fast until its backoff passes,
and so does a hung one (accepts requests, answers nothing, not even /health) once a request
has been met with silence for its quiet time; a busy one (silent, but answering /health) is
waited for."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from lsp_server.engine.base import Cancelled, CancelToken, EngineError, GenerationRequest
from lsp_server.engine.remote import engine as remote_engine
from lsp_server.engine.remote.engine import (
    ANSWER_WAIT_MIN_S,
    RemoteEngine,
    answer_wait_s,
    dialect_name,
)
from lsp_server.engine.remote.http import HEALTH_TIMEOUT_S, RETRY_DELAYS_S, Http, RemoteError
from lsp_server.engine.remote.vocab import TextVocab, estimate_pieces
from tests.helpers.http_stub import HttpStub, stubs_of
from tests.helpers.llama_stub import LlamaServerStub
from tests.helpers.silent_engine import BusyEngine, SilentEngine


class Stub(HttpStub):
    """Answers every POST with the given status and streamed lines (one per 20 ms)."""

    def __init__(self, lines: list[str], status: int = 200, kind: str = "text/event-stream"):
        self.lines, self.status, self.kind = lines, status, kind
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.sent = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.bodies.append(json.loads(raw))
                stub.headers.append(dict(self.headers))
                self.send_response(stub.status)
                self.send_header("Content-Type", stub.kind)
                self.end_headers()
                try:
                    for line in stub.lines:
                        self.wfile.write(line.encode() + b"\n")
                        self.wfile.flush()
                        stub.sent += 1
                        time.sleep(0.02)
                except OSError:
                    pass

        self.serve(Handler)


def engine(kind: str, url: str, **kw) -> RemoteEngine:
    return RemoteEngine(
        kind,
        Http(url, api_key=kw.pop("api_key", ""), timeout_s=5),
        model="qwen2.5-coder",
        dialect="qwen",
        vocab_splitter=estimate_pieces,
        n_ctx=4096,
        redact=kw.pop("redact", False),
    )


def request(e: RemoteEngine, text: str = "def add(a, b):\n    ", **kw) -> GenerationRequest:
    d = e.dialect
    prompt = [d.prefix_id, *e.tokenize(text), d.suffix_id, d.middle_id]
    return GenerationRequest(prompt=prompt, max_tokens=kw.pop("max_tokens", 16), **kw)


def sse(events: list[dict]) -> list[str]:
    return [f"data: {json.dumps(e)}\n" for e in events]


def test_llama_server_protocol_prompt_as_text_with_the_models_markers():
    stub = Stub(sse([{"content": "return"}, {"content": " a + b"}, {"content": "", "stop": True,
                     "timings": {"prompt_n": 9}}]))  # fmt: skip
    try:
        e = engine("llama-server", stub.url)
        g = e.generate(request(e), CancelToken())
        assert (g.text, g.finish, g.evaluated_tokens) == ("return a + b", "stop", 9)
        body = stub.bodies[0]
        assert body["prompt"] == "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|><|fim_middle|>"
        assert body["cache_prompt"] is True and body["n_predict"] == 16 and body["stream"]
    finally:
        stub.close()


def test_ollama_protocol_raw_json_lines():
    lines = [json.dumps({"response": "return a"}), json.dumps({"response": " + b", "done": True})]
    stub = Stub(lines, kind="application/x-ndjson")
    try:
        e = engine("ollama", stub.url)
        assert e.generate(request(e), CancelToken()).text == "return a + b"
        body = stub.bodies[0]
        assert body["raw"] is True and body["model"] == "qwen2.5-coder"
        assert body["options"]["num_predict"] == 16
    finally:
        stub.close()


def test_openai_protocol_with_api_key_from_the_environment():
    events = [{"choices": [{"text": "return a + b", "finish_reason": None}]},
              {"choices": [{"text": "", "finish_reason": "stop"}]}]  # fmt: skip
    stub = Stub([*sse(events), "data: [DONE]\n"])
    try:
        e = engine("openai", stub.url, api_key="test-key")
        assert e.generate(request(e), CancelToken()).text == "return a + b"
        assert stub.headers[0]["Authorization"] == "Bearer test-key"
        assert stub.bodies[0]["stop"] and len(stub.bodies[0]["stop"]) <= 4
    finally:
        stub.close()


def test_stopping_early_closes_the_stream():
    stub = Stub(sse([{"content": f"line{i}\n"} for i in range(200)]))
    try:
        e = engine("llama-server", stub.url)
        req = request(e, should_stop=lambda text: text.count("\n") >= 2)
        g = e.generate(req, CancelToken())
        assert g.finish == "criteria" and g.text == "line0\nline1\n"
        time.sleep(0.3)
        assert stub.sent < 30  # the engine stopped sending: the connection was closed
    finally:
        stub.close()


def test_cancel_from_another_thread_ends_a_blocked_read():
    stub = Stub([": keep-alive\n"] * 500)  # no content for 10 s
    try:
        e = engine("llama-server", stub.url)
        token = CancelToken()
        threading.Timer(0.3, token.cancel, args=("newer keystroke",)).start()
        started = time.monotonic()
        with pytest.raises(Exception, match="newer keystroke"):
            e.generate(request(e), token)
        assert time.monotonic() - started < 5  # well before the 10 s stream's end
    finally:
        stub.close()


def test_errors_say_what_to_do():
    stub = Stub(['{"error": "bad key"}'], status=401, kind="application/json")
    try:
        e = engine("openai", stub.url)
        with pytest.raises(RemoteError, match="remoteApiKeyEnv") as info:
            e.generate(request(e), CancelToken())
        assert not info.value.unreachable
    finally:
        stub.close()


def test_a_dead_engine_fails_fast_after_the_first_failure_and_is_reported_once():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    e = engine("llama-server", f"http://127.0.0.1:{port}")
    reports: list[tuple[str, str]] = []
    e.on_health = lambda state, message: reports.append((state, message))
    with pytest.raises(RemoteError, match="connection refused") as info:
        e.generate(request(e), CancelToken())
    assert info.value.unreachable
    assert isinstance(info.value, EngineError)  # what the server catches, whatever the engine
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(RemoteError, match="next try in"):
            e.generate(request(e), CancelToken())
    # no connection attempts while backing off: each would wait its retries' delays
    assert time.monotonic() - started < sum(RETRY_DELAYS_S)
    assert [state for state, _ in reports] == ["down"]


def test_document_text_cannot_inject_control_tokens():
    vocab = TextVocab(estimate_pieces, ("<|fim_prefix|>", "<|fim_middle|>"))
    ids = vocab.tokenize("x = '<|fim_middle|>'\n")
    assert vocab.render(ids) == "x = ''\n"
    assert vocab.render(vocab.tokenize("<|fim_prefix|>a", special=True)) == "<|fim_prefix|>a"
    assert vocab.detokenize(vocab.tokenize("<|fim_prefix|>a", special=True)) == "a"


def test_estimated_pieces_join_back_to_the_text():
    text = "def héllo(x):\n\treturn some_long_identifier + 12345  # 😀\n"
    assert "".join(estimate_pieces(text)) == text


def test_dialect_from_the_model_name_or_the_setting():
    assert dialect_name("auto", "Qwen2.5-Coder-7B", "") == "qwen"
    assert dialect_name("auto", "bigcode/starcoder2-3b", "") == "starcoder"
    assert dialect_name("codellama", "my-model", "") == "codellama"
    with pytest.raises(ValueError, match="remoteFimDialect"):
        dialect_name("auto", "my-model", "http://box:8080")


QUIET_S = 0.3  # the silence before the engine is asked (a completion's is 5 s)


def test_the_silence_before_the_engine_is_asked_is_tied_to_the_requests_time_budget():
    def wait(max_time_ms: float, timeout_s: float = 30.0) -> float:
        return answer_wait_s(GenerationRequest([1], 8, max_time_ms=max_time_ms), timeout_s)

    assert wait(1500) == ANSWER_WAIT_MIN_S == 5.0  # a completion: 5 s, not remoteTimeoutMs
    assert wait(10_000) == 20.0  # twice the budget
    assert wait(120_000) == 30.0  # a fix: at most remoteTimeoutMs
    assert wait(1500, timeout_s=1.0) == 1.0
    assert wait(0) == 30.0  # no budget (the CLI): remoteTimeoutMs


def quiet_engine(url: str, timeout_s: float = 30) -> tuple[RemoteEngine, list[tuple[str, str]]]:
    """An engine asking after ``QUIET_S`` of silence (``quick``), with its health reports."""
    e = RemoteEngine(
        "openai",
        Http(url, timeout_s=timeout_s),  # remoteTimeoutMs' default
        model="qwen2.5-coder",
        dialect="qwen",
        vocab_splitter=estimate_pieces,
        n_ctx=4096,
    )
    reports: list[tuple[str, str]] = []
    e.on_health = lambda state, message: reports.append((state, message))
    return e, reports


def quick(e: RemoteEngine) -> GenerationRequest:
    return request(e, max_time_ms=100)  # waits max(ANSWER_WAIT_MIN_S, 0.2 s) before asking


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setattr(remote_engine, "ANSWER_WAIT_MIN_S", QUIET_S)


@pytest.mark.parametrize(
    ("said", "message"),
    [("", "accepted the request but does not answer"), ("a", "stopped answering")],
    ids=["before-the-answer", "mid-answer"],
)
def test_a_hung_engine_is_down_once_it_does_not_answer_health_until_it_answers(
    quiet, said, message
):
    """Hung (accepts, answers nothing, /health neither): the request fails after the quiet
    time and /health's second, not remoteTimeoutMs; then the backoff, and the recovery."""
    stub = SilentEngine("a + b", said=said)
    try:
        e, reports = quiet_engine(stub.url)
        started = time.monotonic()
        with pytest.raises(RemoteError, match=message) as info:
            e.generate(quick(e), CancelToken())
        waited = time.monotonic() - started
        assert info.value.unreachable and stub.asked == 1
        # the quiet time and /health's timeout, never remoteTimeoutMs (30 s)
        assert QUIET_S + HEALTH_TIMEOUT_S - 0.1 < waited < QUIET_S + HEALTH_TIMEOUT_S + 10, waited
        said_health = f"not even /health within {HEALTH_TIMEOUT_S:g} s"
        assert f"(nothing for {QUIET_S:g} s, {said_health})" in str(info.value)
        started = time.monotonic()
        for _ in range(10):  # while it is down: no request waits for it again
            with pytest.raises(RemoteError, match="next try in"):
                e.generate(quick(e), CancelToken())
        assert time.monotonic() - started < QUIET_S + HEALTH_TIMEOUT_S  # not even one's wait
        assert stub.requests == 1
        stub.speak()
        time.sleep(remote_engine.BACKOFF_S[0])
        assert e.generate(quick(e), CancelToken()).text == said + "a + b"
        assert [state for state, _ in reports] == ["down", "up"]
        assert message in reports[0][1]
    finally:
        stub.close()


@pytest.mark.parametrize("headers_first", [False, True], ids=["nothing-sent", "headers-sent"])
def test_a_busy_engine_that_answers_health_is_waited_for_and_not_down(quiet, headers_first):
    """Busy (a cold prompt on a CPU llama-server): silent for 2.5x the quiet time, but its
    /health is answered at once: the completion comes, no outage is told."""
    late_s = 2.5 * QUIET_S
    stub = BusyEngine("a + b", late_s=late_s, headers_first=headers_first)
    try:
        e, reports = quiet_engine(stub.url)
        for _ in range(2):
            started = time.monotonic()
            assert e.generate(quick(e), CancelToken()).text == "a + b"
            assert late_s <= time.monotonic() - started < late_s + 10  # not remoteTimeoutMs
        assert reports == [] and stub.requests == 2 and stub.asked >= 2
    finally:
        stub.close()


def test_a_busy_engine_is_still_waited_for_no_longer_than_remote_timeout(quiet):
    late_s = 20
    stub = BusyEngine("a + b", late_s=late_s)
    try:
        e, reports = quiet_engine(stub.url, timeout_s=1)
        started = time.monotonic()
        with pytest.raises(RemoteError, match="did not answer within 1 s") as info:
            e.generate(quick(e), CancelToken())
        assert info.value.unreachable and 0.9 < time.monotonic() - started < late_s / 2
        assert stub.asked >= 1 and [state for state, _ in reports] == ["down"]
    finally:
        stub.close()


def test_a_cancel_ends_the_wait_for_the_answers_start(monkeypatch):
    """A newer keystroke while a busy engine evaluates the prompt: the request ends at once
    (the connection is closed), not when the engine answers or the silence is asked about."""
    monkeypatch.setattr(remote_engine, "ANSWER_WAIT_MIN_S", 10.0)
    stub = BusyEngine("a + b", late_s=20)
    try:
        e, reports = quiet_engine(stub.url)
        token = CancelToken()
        threading.Timer(0.2, token.cancel, args=("newer keystroke",)).start()
        started = time.monotonic()
        with pytest.raises(Cancelled, match="newer keystroke"):
            e.generate(quick(e), token)
        assert time.monotonic() - started < 5  # not the 10 s quiet time, nor the 20 s answer
        assert reports == [] and stub.asked == 0
    finally:
        stub.close()


def test_a_cancel_while_a_silent_engine_is_asked_is_a_cancel_not_an_outage(quiet):
    stub = SilentEngine("a + b")
    try:
        e, reports = quiet_engine(stub.url)
        token = CancelToken()
        threading.Timer(QUIET_S + 0.3, token.cancel, args=("newer keystroke",)).start()
        started = time.monotonic()
        with pytest.raises(Cancelled, match="newer keystroke"):
            e.generate(quick(e), token)
        # at the cancel, not at the end of the /health question (QUIET_S + HEALTH_TIMEOUT_S)
        assert time.monotonic() - started < QUIET_S + 0.3 + HEALTH_TIMEOUT_S / 2
        assert stub.asked == 1
        time.sleep(HEALTH_TIMEOUT_S)  # /health goes unanswered after the request ended
        assert reports == []
        token = CancelToken()  # the engine is not down: the next request goes to it
        threading.Timer(0.1, token.cancel, args=("newer keystroke",)).start()
        with pytest.raises(Cancelled):
            e.generate(quick(e), token)
        assert stub.requests == 2 and reports == []
    finally:
        stub.close()


def test_alive_is_any_status_line_to_health_within_its_timeout(monkeypatch):
    stub = Stub([])  # answers GET /health with 501: a status line, alive
    try:
        assert Http(stub.url).alive()
    finally:
        stub.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        assert not Http(url).alive()  # nothing listens there
        s.listen(8)  # accepts, never answers
        started = time.monotonic()
        assert not Http(url).alive()  # given up at its own timeout, not the client's 30 s
        assert HEALTH_TIMEOUT_S - 0.1 < time.monotonic() - started < HEALTH_TIMEOUT_S + 10


# -- one limit per engine, stale requests never sent ------------------------------------------


def llama(url: str, max_concurrent: int = 4) -> RemoteEngine:
    return RemoteEngine(
        "llama-server",
        Http(url, timeout_s=5),
        model="qwen2.5-coder",
        dialect="qwen",
        vocab_splitter=estimate_pieces,
        n_ctx=4096,
        max_concurrent=max_concurrent,
        redact=False,
    )


def in_threads(*calls) -> list[object]:
    """Run each call on its own thread; their results (or exceptions), in order."""
    results: list[object] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
        time.sleep(0.05)  # in this order
    for t in threads:
        t.join(10)
    return results


def test_a_request_cancelled_while_it_waits_for_its_turn_is_never_sent():
    stub = LlamaServerStub(late_s=0.6)
    try:
        e = llama(stub.url, max_concurrent=1)
        stale, fresh = CancelToken(), CancelToken()
        threading.Timer(0.2, stale.cancel, args=("newer keystroke",)).start()
        ended: dict[str, float] = {}

        def ask(token: CancelToken, name: str):
            try:
                return e.generate(request(e), token).text
            finally:
                ended[name] = time.monotonic()

        started = time.monotonic()
        results = in_threads(
            lambda: ask(CancelToken(), "busy"),  # holds the engine's one turn for 0.6 s
            lambda: ask(stale, "stale"),  # waits for it, cancelled at 0.2 s
            lambda: ask(fresh, "fresh"),  # waits for it, and goes
        )
        assert results[0] == results[2] == "a + b"
        assert isinstance(results[1], Cancelled) and "newer keystroke" in str(results[1])
        assert ended["stale"] < ended["busy"]  # woken by the cancel, not by the turn
        assert ended["stale"] - started < 0.5
        assert len(stub.completions) == 2  # the stale one never reached the engine
        with pytest.raises(Cancelled):  # one cancelled before its turn came: never sent either
            gone = CancelToken()
            gone.cancel("newer keystroke")
            e.generate(request(e), gone)
        assert len(stub.completions) == 2
    finally:
        stub.close()


def test_engine_objects_on_one_url_share_remote_max_concurrent_the_newest_setting_wins():
    """A reload builds a new engine object while the old one may still stream: one limit."""
    stub = LlamaServerStub(late_s=0.2)
    try:
        old, new = llama(stub.url, 1), llama(stub.url + "/", 1)  # the same engine
        results = in_threads(*[lambda e=e: e.generate(request(e), CancelToken()) for e in
                               (old, new, old, new)])  # fmt: skip
        assert [g.text for g in results] == ["a + b"] * 4  # type: ignore[attr-defined]
        assert stub.most == 1
        llama(stub.url, 4)  # the settings now say 4: for the objects built before too
        in_threads(*[lambda e=e: e.generate(request(e), CancelToken()) for e in (old, new)])
        assert stub.most == 2
    finally:
        stub.close()


def test_requests_waiting_for_their_turn_when_the_engine_goes_down_are_not_sent():
    """They meet the backoff when their turn comes: one outage, told once, not one each."""
    stub = LlamaServerStub(late_s=0.3)
    stub.down = True  # answers 503 after 0.3 s
    try:
        e, reports = llama(stub.url, max_concurrent=1), []
        e.on_health = lambda state, _message: reports.append(state)
        results = in_threads(*[lambda: e.generate(request(e), CancelToken())] * 3)
        assert [type(r) for r in results] == [RemoteError] * 3
        assert "503" in str(results[0]) and all("next try in" in str(r) for r in results[1:])
        assert stub.requests == 1 and reports == ["down"] and e._failures == 1
    finally:
        stub.close()


# -- a llama-server restarted: asked again once, the pin and the context follow it ----------


@pytest.fixture
def restarts(monkeypatch):
    monkeypatch.setattr(remote_engine, "BACKOFF_S", (0.05,))
    with stubs_of(LlamaServerStub) as make:
        yield make


def connected(stub: LlamaServerStub, slot: int) -> tuple[RemoteEngine, list[str]]:
    from lsp_server.engine.remote.connect import connect
    from lsp_server.settings import Settings

    settings = Settings(
        engine="llama-server",
        remote_url=stub.url,
        remote_slot=slot,
        remote_fim_dialect="qwen",
        remote_redact=False,
    )
    e, _ = connect(settings)
    reports: list[str] = []
    e.on_health = lambda state, _message: reports.append(state)
    return e, reports


def outage(e: RemoteEngine, stub: LlamaServerStub) -> None:
    """The server goes down (503 while it loads its model), and comes back."""
    stub.down = True
    with pytest.raises(RemoteError, match="503"):
        e.generate(request(e), CancelToken())
    stub.down = False
    time.sleep(0.1)  # the backoff


@pytest.mark.parametrize(
    ("setting", "pinned", "slots", "repinned"),
    [(3, 3, 2, None), (1, 1, 2, 1), (-1, range(4), 1, None), (-2, None, 2, None)],
    ids=["set-now-out-of-range", "set-still-there", "random-one-slot-left", "server-chooses"],
)
def test_after_an_outage_the_engine_is_asked_again_once_and_the_pin_follows_its_slots(
    restarts, caplog, setting, pinned, slots, repinned
):
    stub = restarts(slots=4, n_ctx=2048)
    e, reports = connected(stub, setting)
    assert e.slot in pinned if isinstance(pinned, range) else e.slot == pinned
    assert e.n_ctx == 2048 and e.generate(request(e), CancelToken()).text == "a + b"
    stub.restart(slots=slots, n_ctx=1024)  # restarted with fewer, smaller slots
    outage(e, stub)
    asked = stub.props_asked
    assert e.generate(request(e), CancelToken()).text == "a + b"  # unpinned: the outage
    assert stub.props_asked == asked + 1 and e.slot == repinned and e.n_ctx == 1024
    for _ in range(3):
        assert e.generate(request(e), CancelToken()).text == "a + b"
    assert stub.sent_slots[-3:] == [repinned] * 3 and stub.props_asked == asked + 1
    assert reports == ["down", "up"]
    said = [r.getMessage() for r in caplog.records]
    assert sum("no longer pinned" in m for m in said) == (pinned is not None)  # the outage
    assert sum("remoteSlot 3: the server has 2 slots" in m for m in said) == (setting == 3)


def test_a_server_restarted_without_props_keeps_the_dialect_unpinned(restarts, caplog):
    stub = restarts(slots=4)
    e, reports = connected(stub, 2)
    stub.restart(slots=4, n_ctx=1024, props=False)  # e.g. a proxy in front of it now
    outage(e, stub)
    for _ in range(3):
        assert e.generate(request(e), CancelToken()).text == "a + b"
    assert e.slot is None and e.n_ctx == 2048 and e.dialect.name == "qwen"
    assert stub.sent_slots[-3:] == [None] * 3 and reports == ["down", "up"]
    said = [r.getMessage() for r in caplog.records if "does not say its slots" in r.getMessage()]
    assert len(said) == 1


def test_a_restart_with_another_model_is_reported_once_and_nothing_more_is_sent(restarts):
    """Another model may speak another FIM dialect and vocabulary: the engine is connected
    again (the model service reloads on "changed"); until then it refuses requests, quietly."""
    stub = restarts()
    e, reports = connected(stub, 1)
    stub.restart(slots=4, n_ctx=2048, model="/models/starcoder2-3b.gguf")
    outage(e, stub)
    with pytest.raises(RemoteError, match="now serves") as info:
        e.generate(request(e), CancelToken())  # the answer came in the old dialect: dropped
    assert "/models/starcoder2-3b.gguf (was /models/qwen2.5-coder-7b" in str(info.value)
    assert info.value.unreachable  # told once through on_health, not per request
    sent = len(stub.completions)
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(RemoteError, match="connecting again"):
            e.generate(request(e), CancelToken())
    assert time.monotonic() - started < 0.5 and len(stub.completions) == sent
    assert reports == ["down", "changed"]


def test_a_slot_the_server_refuses_is_dropped_and_the_request_goes_again(restarts, caplog):
    """A build that checks slot ids, restarted with fewer slots between two requests (no
    outage seen): refused, asked again, sent again to a slot it has."""
    stub = restarts(slots=4)
    stub.refuses = True
    e, reports = connected(stub, 3)
    stub.restart(slots=2, n_ctx=2048)
    asked = stub.props_asked
    assert e.generate(request(e), CancelToken()).text == "a + b"
    assert stub.sent_slots == [3, None] and e.slot is None and stub.props_asked == asked + 1
    assert reports == [] and any("slot 3 refused" in r.getMessage() for r in caplog.records)


async def test_the_model_service_connects_again_once_when_the_engine_serves_another_model(
    monkeypatch,
):
    from tests.unit.test_handlers import Harness

    h = Harness(prefetch=False)
    model = h.services.model
    loads: list[int] = []
    monkeypatch.setattr(model, "start_load", lambda: loads.append(1))
    message = "the engine at http://box:8080 now serves /models/b.gguf (was /models/a.gguf)"
    model._health("changed", message, h.engine)
    model._health("changed", message, object())  # an engine let go meanwhile: not serving
    assert loads == [1] and model.health["state"] == "changed"
    assert h.client.told == [f"infill-lsp: {message}; connecting again."]
    model.shutdown()


def test_the_server_chooses_unless_a_slot_is_set(restarts):
    """-2 (the default) never sends a slot, whatever slot the server names in its answers:
    pinning editors to shared slots let llama.cpp's RAM prompt cache answer one user with
    another's code (tests/e2e/test_team_privacy.py); a set slot is always sent."""
    four = restarts(slots=4, n_ctx=2048)
    four.choice = 2
    e, _ = connected(four, -2)
    for _ in range(3):
        e.generate(request(e), CancelToken())
    assert four.sent_slots == [None, None, None] and e.slot is None
    e, _ = connected(four, 1)
    for _ in range(2):
        e.generate(request(e), CancelToken())
    assert four.sent_slots[-2:] == [1, 1]


@pytest.mark.parametrize("kind", ["llama-server", "openai", "ollama"])
def test_the_requests_stop_texts_go_first_in_the_engines_stop_list(kind):
    """A single-line answer ends at its newline on the engine's side (which frees its slot at
    once): the request's stop texts lead the list, before the dialect's (OpenAI takes four)."""
    done = {
        "llama-server": {"content": "x", "stop": True},
        "openai": {"choices": [{"text": "x", "finish_reason": "stop"}]},
        "ollama": {"response": "x", "done": True},
    }
    lines = sse([done[kind]]) if kind != "ollama" else [json.dumps(done[kind])]
    s = Stub(lines, kind="application/x-ndjson" if kind == "ollama" else "text/event-stream")
    try:
        e = engine(kind, s.url)
        e.generate(request(e, stop_texts=("\n",)), CancelToken())
        e.generate(request(e), CancelToken())
    finally:
        s.close()
    first, second = s.bodies
    stops = [b.get("stop") or b["options"]["stop"] for b in (first, second)]
    assert stops[0][0] == "\n" and "\n" not in stops[1]
    assert stops[0][1:] == stops[1][: len(stops[0]) - 1]
    assert len(stops[0]) <= 4 or kind != "openai"


def test_status_shows_the_slot_kept_now(restarts):
    """The pin picked again after a restart shows in ``infill/status``, not the one at connect."""
    from lsp_server.loader import LoadedModel

    stub = restarts(slots=4, n_ctx=2048)
    e, _ = connected(stub, -1)
    loaded = LoadedModel(None, e, remote={"engine": "llama-server", "slot": e.slot})
    assert loaded.describe()["slot"] in range(4)
    stub.restart(slots=1, n_ctx=2048)
    outage(e, stub)
    e.generate(request(e), CancelToken())
    assert loaded.describe()["slot"] is None  # one slot left: not pinned


@pytest.mark.parametrize("redact", [True, False])
def test_text_with_a_secret_is_never_sent_to_tokenize_unredacted(redact):
    """The engine's /tokenize sees text as it is: a line that redaction would change is
    estimated here instead (the prompt itself leaves redacted); with remoteRedact off it is
    asked like any other."""
    asked: list[str] = []

    def server_pieces(text: str) -> list[str]:  # what would go to /tokenize
        asked.append(text)
        return estimate_pieces(text)

    e = RemoteEngine(
        "llama-server",
        Http("http://127.0.0.1:9", timeout_s=1),
        model="qwen2.5-coder",
        dialect="qwen",
        vocab_splitter=server_pieces,
        n_ctx=4096,
        redact=redact,
    )
    secret = 'OPENAI_API_KEY = "sk-proj-Xa9fK2mQ7rT4vB8nL1pZ6wE3yU5iO0cD"\n'
    text = "def area(r):\n    return 3.14 * r * r\n" + secret
    assert e.detokenize(e.tokenize(text)) == text
    sent = "".join(asked)
    assert ("sk-proj-" in sent) is not redact
    assert "def area(r):" in sent  # the rest is still asked of the engine


def test_the_engines_public_name_carries_no_path_or_credentials():
    from lsp_server.engine.remote.engine import public_name

    http = Http("http://user:token@gpu-box:8080/v1/?key=abc", timeout_s=1)
    assert public_name("openai", "", http) == "openai:gpu-box:8080/v1"
    assert public_name("llama-server", "/srv/models/qwen2.5-coder-7b-q4_k_m.gguf", http) == (
        "llama-server:qwen2.5-coder-7b-q4_k_m.gguf"
    )
    ollama = public_name("ollama", "qwen2.5-coder:1.5b-base", http)
    assert ollama == "ollama:qwen2.5-coder:1.5b-base"
