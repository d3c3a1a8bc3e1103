"""A loopback stand-in for llama.cpp's llama-server as a restart changes it: ``/props`` (its
model, slots and a slot's context: ``restart`` changes them), ``/health``, ``/tokenize`` (one
piece per character) and a streamed ``/completion``, which answers 503 while ``down`` (a server
restarting, loading its model). An ``id_slot`` out of range is wrapped around the slots, as
current llama-server does, or refused (``refuses``: a build that checks it); a request without
one runs on ``choice`` (the server's choice by prompt similarity), and the answer's last event
says the slot. It counts what it was asked and how
many completions ran at once (``most``)."""

from __future__ import annotations

import json
import threading
import time

from tests.helpers.http_stub import HttpStub, JsonHandler

MODEL = "/models/qwen2.5-coder-7b-q4_k_m.gguf"


class LlamaServerStub(HttpStub):
    def __init__(self, *, slots: int = 4, n_ctx: int = 2048, late_s: float = 0.0) -> None:
        self.props: dict | None = None
        self.restart(slots=slots, n_ctx=n_ctx)
        self.down = False
        self.refuses = False
        self.late_s = late_s  # each completion takes this long
        self.choice = 0  # the slot a request without id_slot runs on
        self.completions: list[dict] = []  # the bodies of the completions it ran
        self.requests = 0  # to /completion, answered or not
        self.props_asked = 0
        self.active = self.most = 0
        lock = threading.Lock()
        stub = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                if self.path == "/health":
                    self.send(503 if stub.down else 200, {"status": "ok"})
                elif self.path == "/props" and stub.props is not None and not stub.down:
                    stub.props_asked += 1
                    self.send(200, stub.props)
                else:
                    stub.props_asked += self.path == "/props"
                    self.send(503 if stub.down else 404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if self.path == "/tokenize":
                    pieces = [{"id": i, "piece": c} for i, c in enumerate(body["content"])]
                    self.send(200, {"tokens": pieces})
                    return
                stub.requests += 1
                if stub.down:
                    time.sleep(stub.late_s)
                    self.send(503, {"error": {"code": 503, "message": "Loading model"}})
                    return
                stub.completions.append(body)
                slot = body.get("id_slot", -1)
                slots = (stub.props or {}).get("total_slots") or 1
                if stub.refuses and slot >= slots:
                    self.send(400, {"error": {"code": 400, "message": "Invalid slot id"}})
                    return
                with lock:
                    stub.active += 1
                    stub.most = max(stub.most, stub.active)
                time.sleep(stub.late_s)
                with lock:
                    stub.active -= 1
                served = slot % slots if slot >= 0 else stub.choice
                event = {"content": "a + b", "stop": True, "id_slot": served}
                self.send(200, f"data: {json.dumps(event)}\n\n".encode(), "text/event-stream")

        self.serve(Handler)

    def restart(self, *, slots: int, n_ctx: int, model: str = MODEL, props: bool = True) -> None:
        """What the server says about itself from now on (``props``: False, it has no /props)."""
        settings = {"n_ctx": n_ctx}
        answer = {
            "model_path": model,
            "total_slots": slots,
            "default_generation_settings": settings,
        }
        self.props = answer if props else None

    @property
    def sent_slots(self) -> list[int | None]:
        return [body.get("id_slot") for body in self.completions]


def ask(engine) -> str:
    """A short completion of ``def add(a, b): return `` from ``engine`` (the stubs answer
    ``a + b``)."""
    from lsp_server.engine.base import CancelToken, GenerationRequest

    d = engine.dialect
    prompt = [d.prefix_id, *engine.tokenize("def add(a, b):\n    return "), d.suffix_id]
    prompt.append(d.middle_id)
    return engine.generate(GenerationRequest(prompt, max_tokens=8), CancelToken()).text
