"""Remote engines' wire protocols and failure handling, against small stub HTTP servers that
speak each engine's streaming format (the real OpenAI-compatible server is in
tests/e2e/test_remote.py): llama-server SSE, Ollama JSON lines, OpenAI SSE; stopping early
closes the stream; errors say what to do; a dead engine fails fast until its backoff passes,
and so does one that accepts requests and never answers, once a request has waited as long as
its time budget allows."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from lsp_server.engine.base import CancelToken, EngineError, GenerationRequest
from lsp_server.engine.remote import engine as remote_engine
from lsp_server.engine.remote.engine import (
    ANSWER_WAIT_MIN_S,
    RemoteEngine,
    answer_wait_s,
    dialect_name,
)
from lsp_server.engine.remote.http import Http, RemoteError
from lsp_server.engine.remote.vocab import TextVocab, estimate_pieces
from tests.helpers.http_stub import HttpStub
from tests.helpers.silent_engine import SilentEngine


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
        assert time.monotonic() - started < 3
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
    assert time.monotonic() - started < 0.5  # no connection attempts while backing off
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


def test_the_wait_for_an_answer_is_tied_to_the_requests_time_budget():
    def wait(max_time_ms: float, timeout_s: float = 30.0) -> float:
        return answer_wait_s(GenerationRequest([1], 8, max_time_ms=max_time_ms), timeout_s)

    assert wait(1500) == ANSWER_WAIT_MIN_S == 5.0  # a completion: 5 s, not remoteTimeoutMs
    assert wait(10_000) == 20.0  # twice the budget
    assert wait(120_000) == 30.0  # a fix: at most remoteTimeoutMs
    assert wait(1500, timeout_s=1.0) == 1.0
    assert wait(0) == 30.0  # no budget (the CLI): remoteTimeoutMs


def test_an_engine_that_accepts_and_never_answers_is_down_until_it_answers(monkeypatch):
    monkeypatch.setattr(remote_engine, "ANSWER_WAIT_MIN_S", 0.5)
    stub = SilentEngine("a + b")
    try:
        e = RemoteEngine(
            "openai",
            Http(stub.url, timeout_s=30),  # remoteTimeoutMs' default
            model="qwen2.5-coder",
            dialect="qwen",
            vocab_splitter=estimate_pieces,
            n_ctx=4096,
        )
        reports: list[tuple[str, str]] = []
        e.on_health = lambda state, message: reports.append((state, message))
        started = time.monotonic()
        with pytest.raises(RemoteError, match=r"did not answer within 0.5 s") as info:
            e.generate(request(e, max_time_ms=200), CancelToken())
        assert info.value.unreachable and 0.4 < time.monotonic() - started < 3
        started = time.monotonic()
        for _ in range(10):  # while it is down: no request waits for it again
            with pytest.raises(RemoteError, match="next try in"):
                e.generate(request(e, max_time_ms=200), CancelToken())
        assert time.monotonic() - started < 0.5 and stub.requests == 1
        stub.speak()
        time.sleep(remote_engine.BACKOFF_S[0])
        assert e.generate(request(e, max_time_ms=200), CancelToken()).text == "a + b"
        assert [state for state, _ in reports] == ["down", "up"]
        assert "did not answer within 0.5 s" in reports[0][1]
    finally:
        stub.close()
