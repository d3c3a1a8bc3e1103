"""``engine: openai`` or ``ollama`` with only ``remoteUrl`` set: the engine says what it serves
(``/v1/models``; ``/api/tags``), the context where its API tells it (vLLM's ``max_model_len``,
llama-server's ``/props``, TGI's ``/info``; Ollama's ``num_ctx`` and ``context_length``) and,
for Ollama, the FIM dialect in the model's template. A missing answer is one log line and the
settings decide. Against stubs answering the engines' real field names (the real
llama-cpp-python server: tests/e2e/test_remote.py)."""

from __future__ import annotations

import json
import socket

import pytest

from lsp_server.engine.remote import discover
from lsp_server.engine.remote import http as http_module
from lsp_server.engine.remote.http import RemoteError
from lsp_server.settings import Settings
from tests.helpers.http_stub import RoutesStub
from tests.helpers.llama_stub import ask

# Ollama's template of qwen2.5-coder (FIM first, then chat)
QWEN_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else if .Messages }}{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}"
    "<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ else }}{{ .Prompt }}{{ end }}"
)
CHAT_TEMPLATE = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ .Prompt }}"
)
OPENAI_ANSWER = (
    f"data: {json.dumps({'choices': [{'text': 'a + b', 'finish_reason': 'stop'}]})}\n\n"
    "data: [DONE]\n\n"
).encode()
OLLAMA_ANSWER = (json.dumps({"response": "a + b", "done": True}) + "\n").encode()


@pytest.fixture
def make_stub():
    stubs: list[RoutesStub] = []

    def make(routes: dict, kind: str = "text/event-stream") -> RoutesStub:
        stubs.append(RoutesStub(routes, kind))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


def settings(engine: str, url: str, **kw) -> Settings:
    return Settings(engine=engine, remote_url=url, remote_redact=False, **kw)


def connect(s: Settings):
    from lsp_server.engine.remote.connect import connect as connect_engine

    return connect_engine(s)


def notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def openai_stub(make_stub, models: list[dict] | None, **routes) -> RoutesStub:
    table: dict = {("POST", "/v1/completions"): (200, OPENAI_ANSWER)}
    if models is not None:
        table["GET", "/v1/models"] = (200, {"object": "list", "data": models})
    table.update({("GET", path): (200, answer) for path, answer in routes.items()})
    return make_stub(table)


# -- openai -------------------------------------------------------------------------------


def test_openai_one_model_vllm_names_it_and_tells_its_context(make_stub, caplog):
    """vLLM: ``--served-model-name`` as the id, the checkpoint as ``root``, the context as
    ``max_model_len``."""
    card = {
        "id": "team-coder",
        "object": "model",
        "owned_by": "vllm",
        "root": "Qwen/Qwen2.5-Coder-7B",
        "max_model_len": 2048,
    }
    stub = openai_stub(make_stub, [card])
    engine, described = connect(settings("openai", stub.url))
    assert engine.model == "team-coder" and engine.name == "openai:team-coder"
    assert engine.dialect.name == "qwen" and described["dialectFrom"] == "name"  # by its root
    assert engine.n_ctx == 2048 and described["nCtxTold"] == 2048
    assert described["nCtxFrom"] == "/v1/models max_model_len"
    assert described["model"] == "team-coder" and described["modelFrom"] == "engine"
    assert ask(engine) == "a + b" and stub.asked("/v1/completions")[-1]["model"] == "team-coder"
    assert not stub.asked("/info") and notes(caplog) == []


def test_openai_several_models_the_first_code_model_whose_name_tells(make_stub, caplog):
    caplog.set_level("INFO")
    ids = ["llama-3-8b-instruct", "qwen2.5-7b-instruct", "qwen2.5-coder-7b", "starcoder2-3b"]
    stub = openai_stub(
        make_stub, [{"id": i, "object": "model", "max_model_len": 8192} for i in ids]
    )
    engine, described = connect(settings("openai", stub.url))
    assert engine.model == "qwen2.5-coder-7b" and engine.dialect.name == "qwen"
    assert engine.n_ctx == Settings().context_size  # min(setting, 8192)
    assert described["models"] == ids and described["nCtxTold"] == 8192
    (line,) = [r.getMessage() for r in caplog.records if "serves 4 models" in r.getMessage()]
    assert "using qwen2.5-coder-7b" in line and "llama-3-8b-instruct" in line
    assert "starcoder2-3b" in line


def test_openai_remote_model_set_is_kept_and_one_not_listed_is_said(make_stub, caplog):
    stub = openai_stub(
        make_stub,
        [{"id": "a", "max_model_len": 1024}, {"id": "starcoder2-3b", "max_model_len": 2048}],
    )
    engine, described = connect(settings("openai", stub.url, remote_model="starcoder2-3b"))
    assert engine.dialect.name == "starcoder" and engine.n_ctx == 2048
    assert described["modelFrom"] == "setting" and notes(caplog) == []
    engine, _ = connect(settings("openai", stub.url, remote_model="qwen2.5-coder-1.5b"))
    assert engine.model == "qwen2.5-coder-1.5b"  # the setting wins
    assert any(
        "'qwen2.5-coder-1.5b' is not among its models (a, starcoder2-3b)" in n
        for n in notes(caplog)
    )


def test_openai_no_model_listed_falls_back_to_the_settings(make_stub, caplog):
    stub = openai_stub(make_stub, [])
    with pytest.raises(ValueError, match="set remoteFimDialect"):
        connect(settings("openai", stub.url))
    engine, described = connect(settings("openai", stub.url, remote_fim_dialect="qwen"))
    assert engine.model == "" and described["dialectFrom"] == "setting"
    assert any("/v1/models lists no model" in n for n in notes(caplog))


def test_openai_without_v1_models_tgi_info_tells_model_and_context(make_stub, caplog):
    """An older TGI: no /v1/models; /info has ``model_id`` and ``max_total_tokens``."""
    info = {"model_id": "bigcode/starcoder2-3b", "max_input_tokens": 1023, "max_total_tokens": 1024}
    stub = openai_stub(make_stub, None, **{"/info": info})
    engine, described = connect(settings("openai", stub.url))
    assert engine.model == "bigcode/starcoder2-3b" and engine.dialect.name == "starcoder"
    assert engine.n_ctx == 1024 and described["nCtxFrom"] == "/info max_total_tokens"
    (line,) = notes(caplog)
    assert "no /v1/models" in line


def test_openai_llama_cpp_python_does_not_tell_its_context_one_note(make_stub, caplog):
    """llama-cpp-python's server: ``{"id", "object", "owned_by": "me", "permissions"}``."""
    card = {"id": "qwen2.5-coder-0.5b", "object": "model", "owned_by": "me", "permissions": []}
    stub = openai_stub(make_stub, [card])
    engine, described = connect(settings("openai", stub.url))
    assert engine.model == "qwen2.5-coder-0.5b" and engine.dialect.name == "qwen"
    assert engine.n_ctx == Settings().context_size and described["nCtxTold"] == 0
    (line,) = notes(caplog)
    assert "its context is not told (no /info" in line and "contextSize" in line


def test_openai_at_a_llama_server_its_slot_context_from_props(make_stub, caplog):
    """llama-server's /v1/models: ``owned_by: llamacpp``, ``meta.n_ctx_train`` (the model's
    trained maximum); a slot's context is in its /props."""
    card = {
        "id": "qwen2.5-coder-1.5b",
        "object": "model",
        "owned_by": "llamacpp",
        "meta": {"n_vocab": 151936, "n_ctx_train": 32768},
    }
    props = {"default_generation_settings": {"n_ctx": 2048}, "total_slots": 2}
    stub = openai_stub(make_stub, [card], **{"/props": props})
    engine, described = connect(settings("openai", stub.url))
    assert engine.n_ctx == 2048 and described["nCtxFrom"] == "/props n_ctx"
    assert "slot" not in described and engine.slot is None  # openai: no slots
    stub.routes.pop(("GET", "/props"))
    engine, described = connect(settings("openai", stub.url))
    assert described["nCtxTold"] == 32768 and engine.n_ctx == Settings().context_size
    assert described["nCtxFrom"] == "/v1/models meta.n_ctx_train"
    assert any("no /props" in n for n in notes(caplog))


# -- ollama -------------------------------------------------------------------------------


def ollama_stub(make_stub, tags: list[str], shows: dict[str, dict]) -> RoutesStub:
    def show(body: dict):
        found = shows.get(body.get("model", ""))
        return (200, found) if found else (404, {"error": f"model '{body.get('model')}' not found"})

    return make_stub(
        {
            ("GET", "/api/tags"): (200, {"models": [{"name": t, "model": t} for t in tags]}),
            ("POST", "/api/show"): show,
            ("POST", "/api/generate"): (200, OLLAMA_ANSWER),
        },
        kind="application/x-ndjson",
    )


def shown(template: str, parameters: str = "", arch: str = "qwen2", length: int = 32768):
    return {
        "template": template,
        "parameters": parameters,
        "details": {"family": arch, "format": "gguf"},
        "model_info": {"general.architecture": arch, f"{arch}.context_length": length},
        "capabilities": ["completion", "insert"] if ".Suffix" in template else ["completion"],
    }


def test_ollama_the_dialect_from_the_template_and_the_window_sent(make_stub, caplog):
    """No ``num_ctx`` in the model's parameters: Ollama's own window depends on its version
    and machine, so each request asks for our budget (``options.num_ctx``)."""
    stops = 'stop                           "<|endoftext|>"'
    stub = ollama_stub(
        make_stub, ["my-coder:latest"], {"my-coder:latest": shown(QWEN_TEMPLATE, stops)}
    )
    engine, described = connect(settings("ollama", stub.url))
    assert engine.model == "my-coder:latest" and engine.dialect.name == "qwen"
    assert described["dialectFrom"] == "template" and described["modelFrom"] == "engine"
    assert described["nCtxTold"] == 32768
    assert described["nCtxFrom"] == "/api/show model_info context_length"
    assert engine.n_ctx == Settings().context_size == described["numCtxSent"]
    assert ask(engine) == "a + b"
    sent = stub.asked("/api/generate")[-1]
    assert sent["model"] == "my-coder:latest" and sent["raw"] is True
    assert sent["options"]["num_ctx"] == engine.n_ctx
    assert stub.asked("/api/show")[0]["model"] == "my-coder:latest" and notes(caplog) == []


def test_ollama_num_ctx_of_the_model_is_the_budget_and_none_is_sent(make_stub):
    parameters = 'num_ctx                        2048\nstop                           "<|im_end|>"'
    stub = ollama_stub(
        make_stub, ["qwen2.5-coder:1.5b"], {"qwen2.5-coder:1.5b": shown(QWEN_TEMPLATE, parameters)}
    )
    engine, described = connect(settings("ollama", stub.url))
    assert engine.n_ctx == 2048 and described["nCtxFrom"] == "/api/show parameters num_ctx"
    assert described["numCtxSent"] == 0
    assert ask(engine) == "a + b"
    assert "num_ctx" not in stub.asked("/api/generate")[-1]["options"]


def test_ollama_a_template_without_fim_falls_back_to_the_name_with_one_note(make_stub, caplog):
    stub = ollama_stub(make_stub, ["qwen2.5:7b"], {"qwen2.5:7b": shown(CHAT_TEMPLATE)})
    engine, described = connect(settings("ollama", stub.url))
    assert engine.dialect.name == "qwen" and described["dialectFrom"] == "name"
    (line,) = notes(caplog)
    assert "the template of qwen2.5:7b has no FIM markers" in line
    caplog.clear()
    engine, described = connect(settings("ollama", stub.url, remote_fim_dialect="starcoder"))
    assert described["dialectFrom"] == "setting" and notes(caplog) == []  # not read


def test_ollama_several_models_and_remote_model_set(make_stub, caplog):
    caplog.set_level("INFO")
    shows = {
        "llama3:8b": shown(CHAT_TEMPLATE, arch="llama"),
        "qwen2.5-coder:7b": shown(QWEN_TEMPLATE, length=16384),
    }
    stub = ollama_stub(make_stub, ["llama3:8b", "qwen2.5-coder:7b"], shows)
    engine, described = connect(settings("ollama", stub.url))
    assert engine.model == "qwen2.5-coder:7b" and described["models"] == list(shows)
    assert any("using qwen2.5-coder:7b" in r.getMessage() for r in caplog.records)
    asked = len(stub.requests)
    engine, described = connect(settings("ollama", stub.url, remote_model="qwen2.5-coder:7b"))
    assert [r["path"] for r in stub.requests[asked:]] == ["/api/show"]  # no /api/tags
    assert described["modelFrom"] == "setting" and described["dialectFrom"] == "template"
    caplog.clear()
    _, described = connect(settings("ollama", stub.url, remote_model="qwen2.5-coder:1.5b"))
    assert described["dialectFrom"] == "name"  # /api/show: 404, one note
    (line,) = notes(caplog)
    assert "no /api/show for qwen2.5-coder:1.5b" in line


@pytest.mark.parametrize(
    ("template", "stops", "by_name", "expected"),
    [
        (QWEN_TEMPLATE, "", "", "qwen"),  # its chat turns (<|im_end|>) say Qwen
        (
            "{{ if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
            "{{ else }}<start_of_turn>user\n{{ .Prompt }}<end_of_turn>{{ end }}",
            "",
            "",
            "codegemma",
        ),
        # FIM only: the spellings both families share, told apart by the name, else not told
        (
            "{{ if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
            "{{ end }}",
            "",
            "qwen",
            "qwen",
        ),
        ("<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>", "", "", ""),
        (
            "<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>",
            "<eos>",
            "",
            "codegemma",
        ),  # a stop of the model's parameters
        ("<fim_prefix>{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>", "", "", "starcoder"),
        ("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>", "", "", "codellama"),
        (
            "<｜fim▁begin｜>{{ .Prompt }}<｜fim▁hole｜>{{ .Suffix }}<｜fim▁end｜>",
            "",
            "",
            "deepseek",
        ),
        ("<|fim_prefix|>{{ .Prompt }}<|fim_suffix|><|fim_middle|>", "", "qwen", ""),  # no Suffix
        (CHAT_TEMPLATE, "", "qwen", ""),
    ],
)
def test_the_dialect_in_a_template(template, stops, by_name, expected):
    assert discover.template_dialect(template, by_name, stops) == expected


# -- not there ----------------------------------------------------------------------------


@pytest.mark.parametrize("engine_kind", ["openai", "ollama"])
def test_an_engine_not_there_without_a_model_set_is_unreachable(engine_kind, monkeypatch):
    monkeypatch.setattr(http_module, "RETRY_DELAYS_S", ())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens
    with pytest.raises(RemoteError, match="cannot ask the engine what it serves") as caught:
        connect(settings(engine_kind, url))
    assert caught.value.unreachable  # the model service tries again with backoff
    with pytest.raises(RemoteError, match="cannot ask"):  # a dialect is not a model name
        connect(settings(engine_kind, url, remote_fim_dialect="qwen"))
    engine, described = connect(settings(engine_kind, url, remote_model="qwen2.5-coder:7b"))
    assert described["dialectFrom"] == "name" and described["nCtxTold"] == 0
    assert engine.n_ctx == Settings().context_size


def test_the_model_command_shows_what_a_remote_engine_told(make_stub, capsys):
    from lsp_server.cli import main

    stub = ollama_stub(
        make_stub, ["qwen2.5-coder:1.5b"], {"qwen2.5-coder:1.5b": shown(QWEN_TEMPLATE, length=2048)}
    )
    argv = ["model", "--json", "--set", "engine=ollama", "--set", f"remoteUrl={stub.url}"]
    assert main(argv) == 0
    shown_model = json.loads(capsys.readouterr().out)
    assert shown_model["model"] == "qwen2.5-coder:1.5b" and shown_model["dialect"] == "qwen"
    assert shown_model["dialectFrom"] == "template" and shown_model["nCtx"] == 2048
    assert main(["model", "--set", "engine=ollama", "--set", f"remoteUrl={stub.url}"]) == 0
    assert "dialectFrom template" in " ".join(capsys.readouterr().out.split())
