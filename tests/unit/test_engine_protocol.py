"""Both engines fill in the whole ``Engine`` protocol, so the server reads fields
(``engine.remote``, ``engine.on_health``, ``engine.forbids_tokens``) instead of probing an
engine with ``hasattr``, and catches one error type (``EngineError``) instead of importing a
backend's. The local engine is built around a stand-in for ``llama_cpp.Llama``: no model loads.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing

import pytest

from lsp_server.engine import llama
from lsp_server.engine.base import Engine, EngineError
from lsp_server.engine.llama import LlamaEngine
from lsp_server.engine.remote.engine import RemoteEngine
from lsp_server.engine.remote.http import Http, RemoteError
from lsp_server.engine.remote.vocab import estimate_pieces
from lsp_server.prompt.fim import FimDialect

FIELDS = typing.get_type_hints(Engine)
METHODS = sorted(
    name for name, value in vars(Engine).items() if inspect.isfunction(value) and name[0] != "_"
)


class FakeModel:
    def n_ctx_train(self) -> int:
        return 32768

    def add_bos_token(self) -> bool:
        return False


class FakeLlama:
    """The part of ``llama_cpp.Llama`` that ``LlamaEngine.__init__`` and ``close`` touch."""

    _model = FakeModel()
    metadata: typing.ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self.closed = False

    def n_ctx(self) -> int:
        return 4096

    def n_vocab(self) -> int:
        return 151936

    def token_bos(self) -> int:
        return 151643

    def token_eos(self) -> int:
        return 151643

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> LlamaEngine:
    monkeypatch.setattr(llama, "open_llama", lambda *_a, **_kw: FakeLlama())
    dialect = FimDialect("qwen", 151659, 151661, 151660, frozenset({151643}))
    return LlamaEngine("/models/qwen2.5-coder-0.5b.gguf", dialect)


@pytest.fixture
def remote() -> RemoteEngine:
    # Nothing connects while the engine is built: the URL is never reached.
    return RemoteEngine(
        "llama-server",
        Http("http://127.0.0.1:9", timeout_s=1),
        model="qwen2.5-coder",
        dialect="qwen",
        vocab_splitter=estimate_pieces,
        n_ctx=4096,
    )


def conforms(value: object, hint: object) -> bool:
    """Whether ``value`` fits a field's type: a plain class, a union of them, or a Callable."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if typing.get_origin(option) is collections.abc.Callable:
            if callable(value):
                return True
        elif isinstance(value, option):  # type: ignore[arg-type]
            return True
    return False


def test_the_protocol_declares_every_capability_and_method():
    assert set(FIELDS) == {
        "name",
        "n_ctx",
        "dialect",
        "bos_id",
        "eos_id",
        "chat_template",
        "forbids_tokens",
        "remote",
        "speculation",
        "on_health",
    }
    assert METHODS == [
        "close",
        "detokenize",
        "forget",
        "generate",
        "pending",
        "special_text",
        "tokenize",
        "warm",
    ]


@pytest.mark.parametrize("which", ["local", "remote"])
def test_each_engine_has_every_field_with_its_type(which: str, request: pytest.FixtureRequest):
    engine = request.getfixturevalue(which)
    for name, hint in FIELDS.items():
        assert hasattr(engine, name), f"{type(engine).__name__} lacks {name}"
        value = getattr(engine, name)
        assert conforms(value, hint), f"{type(engine).__name__}.{name} = {value!r} is no {hint}"


@pytest.mark.parametrize("which", ["local", "remote"])
def test_each_engine_has_every_method_with_the_protocols_parameters(
    which: str, request: pytest.FixtureRequest
):
    engine = request.getfixturevalue(which)
    for name in METHODS:
        method = getattr(engine, name, None)
        assert callable(method), f"{type(engine).__name__} lacks {name}()"
        expected = inspect.signature(getattr(Engine, name)).parameters
        actual = inspect.signature(getattr(type(engine), name)).parameters
        assert list(actual) == list(expected), f"{type(engine).__name__}.{name}"
        defaults = [p.default for p in expected.values()]
        assert [p.default for p in actual.values()] == defaults, f"{type(engine).__name__}.{name}"


def test_capabilities_tell_the_engines_apart(local: LlamaEngine, remote: RemoteEngine):
    assert (local.remote, local.forbids_tokens, local.on_health) == (False, True, None)
    assert (remote.remote, remote.forbids_tokens, remote.on_health) == (True, False, None)
    assert (local.name, local.n_ctx, local.bos_id) == ("qwen2.5-coder-0.5b.gguf", 4096, None)


def test_close_frees_the_local_model_and_is_harmless_on_a_remote_engine(
    local: LlamaEngine, remote: RemoteEngine
):
    local.close()
    assert local._llm.closed  # type: ignore[attr-defined]
    remote.close()
    assert remote.tokenize("x = 1") and remote.close() is None


def test_on_health_set_on_the_local_engine_stays_on_that_engine(local: LlamaEngine):
    """The server sets ``on_health`` on whichever engine it loaded (a constant default on the
    class for the local one): a model swap's replacement starts with nobody listening."""
    local.on_health = lambda _state, _message: None
    assert LlamaEngine.on_health is None


def test_a_remote_error_is_the_one_engine_error_with_unreachable_kept():
    down = RemoteError("cannot reach the engine", unreachable=True)
    assert isinstance(down, EngineError) and down.unreachable
    assert str(down) == "cannot reach the engine"
    assert RemoteError("HTTP 401").unreachable is False
    assert EngineError("failed").unreachable is False
    with pytest.raises(EngineError) as info:
        raise RemoteError("dropped", unreachable=True)
    assert info.value.unreachable
