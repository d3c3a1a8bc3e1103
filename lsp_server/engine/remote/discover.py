"""What a remote engine is, asked of the engine itself, so that ``engine`` + ``remoteUrl`` is
enough. Any answer may be missing (an older server, a proxy in front of it): then the settings
and the model's name decide, with one log line saying what was not found. Nothing here raises.

- llama.cpp's ``llama-server``: ``/props`` tells its model (path or alias), its slots and their
  context; ``/tokenize`` answers control-token spellings as one token, so the FIM dialect is
  read from the model's own vocabulary, as ``prompt.fim`` does for a local GGUF.
- ``openai`` (vLLM, TGI, llama-cpp-python's server, llama-server's /v1): ``/v1/models`` lists
  what it serves (``data[].id``). The context is told where the API has it: vLLM's
  ``max_model_len`` on the model entry; llama-server (``owned_by: llamacpp``) by its ``/props``
  (a slot's ``n_ctx``; the entry's ``meta.n_ctx_train`` is only the model's trained maximum,
  used when ``/props`` is not answered); TGI by ``/info`` (``max_total_tokens``, and
  ``model_id`` when there is no ``/v1/models``). llama-cpp-python's server does not tell it.
- ``ollama``: ``/api/tags`` lists its models; ``/api/show`` gives the model's ``template`` (a
  FIM-capable model's template has ``{{ .Suffix }}`` between its FIM markers: the dialect is
  read from which family's spellings it holds), ``parameters`` (``num_ctx``: the window the
  model is run with) and ``model_info`` (``<architecture>.context_length``: its maximum).
  Ollama cuts a prompt longer than its window silently, and its window when the model does not
  set ``num_ctx`` depends on the version and the machine (2,048 tokens in older versions,
  4,096 later, more with more VRAM, or ``OLLAMA_CONTEXT_LENGTH``): so when ``num_ctx`` is not
  told, each request carries ``options.num_ctx`` equal to our budget (``connect``). Ollama
  reloads a model whose window changes, so that costs one reload when other clients run it
  with another window; a model that sets ``num_ctx`` is sent none and our budget fits in it.

With ``remoteModel`` unset, the model is the one the engine serves or, among several, the first
whose name tells a FIM dialect (a code model's first), said in one log line.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from lsp_server.engine.remote.http import Http, RemoteError
from lsp_server.prompt.fim import SUPPORTED_DIALECTS, spellings

log = logging.getLogger(__name__)

NOT_A_TOKEN = "<|fim_prefixx|>"  # spelled like a marker, in no vocabulary
NOTE_CHARS = 200  # an error quoted in a log note
# A model's name -> the FIM dialect the name tells, "" when it tells none (the rule lives with
# the remote engine, ``engine.dialect_name``: given by the caller).
Named = Callable[[str], str]


@dataclass
class Discovered:
    """What the engine said about itself (None/0: not said)."""

    model: str = ""  # model alias or path
    n_ctx: int = 0  # per slot (llama-server), per request (openai, ollama)
    total_slots: int = 0
    dialect: str = ""  # from the vocabulary (llama-server) or the template (ollama)
    notes: list[str] = field(default_factory=list)  # what could not be asked, for the log
    models: list[str] = field(default_factory=list)  # all the engine serves (openai, ollama)
    hint: str = ""  # more of the model's name: vLLM's root, Ollama's architecture
    n_ctx_from: str = ""  # the answer that told n_ctx
    num_ctx: int = 0  # Ollama: the model's own num_ctx parameter (0: the server's default)
    # the server could not be reached at all, or said it is not ready (503 while loading)
    unreachable: str = ""


def llama_server(http: Http, *, vocabulary: bool = True) -> Discovered:
    """``/props`` and (``vocabulary``: the dialect is not set) the vocabulary of a
    llama-server; never raises (a server without them is still used, configured by hand)."""
    found = Discovered()
    props = _question(found, http, "GET", "/props")
    if found.unreachable:
        return found  # nothing more to ask of it now
    if isinstance(props, dict):
        found.model = str(props.get("model_alias") or props.get("model_path") or "")
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict):
            found.n_ctx = _positive(settings.get("n_ctx"))
        found.total_slots = _positive(props.get("total_slots"))
    if vocabulary:
        found.dialect = vocabulary_dialect(http, found.notes)
    return found


def vocabulary_dialect(http: Http, notes: list[str]) -> str:
    """The dialect whose prefix, suffix and middle markers (and the family's own marker token,
    where families share FIM spellings: CodeGemma and Qwen) are each ONE token of the engine's
    vocabulary, asked through ``/tokenize``; "" when none is or it cannot be asked (or when
    the answers cannot be told apart: a made-up marker must not be one token either)."""
    try:
        if _one_token(http, NOT_A_TOKEN):
            notes.append("/tokenize answers any text as one token")
            return ""
    except RemoteError as exc:
        notes.append(f"no /tokenize ({_short(exc)})")
        return ""
    for name in SUPPORTED_DIALECTS:
        names = spellings(name)
        if names is None:
            continue
        wanted = [names[role][0] for role in ("prefix", "suffix", "middle")] + list(names["marker"])
        try:
            if all(_one_token(http, text) for text in wanted):
                return name
        except RemoteError as exc:
            notes.append(f"no /tokenize ({_short(exc)})")
            return ""
    return ""


def openai(http: Http, wanted: str, named: Named) -> Discovered:
    """``/v1/models`` (the model, among several the one to use) and the context where the
    engine tells it; ``wanted``: the ``remoteModel`` setting ("" = pick one)."""
    found = Discovered()
    answer = _question(found, http, "GET", "/v1/models")
    if found.unreachable:
        return found
    data = answer.get("data") if isinstance(answer, dict) else None
    entries = [e for e in data or () if isinstance(e, dict) and isinstance(e.get("id"), str)]
    if answer is not None and not entries:
        found.notes.append("/v1/models lists no model")
    offered = [(e["id"], str(e.get("root") or "")) for e in entries]
    found.models = [name for name, _ in offered]
    found.model = pick_model(http.url, offered, wanted, found.notes, named)
    entry = next((e for e in entries if e["id"] == found.model), {})
    found.hint = str(entry.get("root") or "")
    _told(found, entry.get("max_model_len"), "/v1/models max_model_len")  # vLLM
    if entry.get("owned_by") == "llamacpp":  # llama-server: a slot's context, in /props
        props = _ask(http, "/props", found.notes)
        settings = props.get("default_generation_settings") if props else None
        if isinstance(settings, dict):
            _told(found, settings.get("n_ctx"), "/props n_ctx")
        meta = entry.get("meta")
        if isinstance(meta, dict):  # the model's trained maximum: when /props did not say
            _told(found, meta.get("n_ctx_train"), "/v1/models meta.n_ctx_train")
    elif not found.n_ctx:
        _tgi_info(http, found, wanted)
    return found


def _tgi_info(http: Http, found: Discovered, wanted: str) -> None:
    """TGI's ``/info``: its context (``max_total_tokens``: prompt and answer) and, without a
    ``/v1/models`` answer, its model. One note when the context is still not told."""
    asked: list[str] = []
    info = _ask(http, "/info", asked)
    _told(found, info.get("max_total_tokens"), "/info max_total_tokens")
    model_id = info.get("model_id")
    if not found.model and not wanted and isinstance(model_id, str):
        found.model = model_id
    if not found.n_ctx:
        why = "; ".join(asked) or "/info without max_total_tokens"
        found.notes.append(f"its context is not told ({why}): prompts are sized to contextSize")


def ollama(http: Http, wanted: str, named: Named, *, template: bool = True) -> Discovered:
    """``/api/tags`` (when ``wanted``, the ``remoteModel`` setting, is "") and the model's
    ``/api/show``: its FIM dialect (``template``: the dialect is not set), window
    (``num_ctx``) and maximum context."""
    found = Discovered(model=wanted)
    if not wanted:
        tags = _question(found, http, "GET", "/api/tags")
        if tags is None:
            return found
        listed = tags.get("models") if isinstance(tags, dict) else None
        names = [m.get("name") or m.get("model") for m in listed or () if isinstance(m, dict)]
        found.models = [n for n in names if isinstance(n, str) and n]
        if not found.models:
            found.notes.append("/api/tags lists no model (ollama pull one)")
            return found
        offered = [(name, "") for name in found.models]
        found.model = pick_model(http.url, offered, "", found.notes, named)
    body = {"model": found.model, "name": found.model}  # "name": what Ollama before 0.5 reads
    show = _question(found, http, "POST", "/api/show", body, f"/api/show for {found.model}")
    if show is None:
        return found
    if isinstance(show, dict):
        _ollama_show(found, show, named if template else None)
    return found


def _ollama_show(found: Discovered, show: dict, named: Named | None) -> None:
    info = show.get("model_info")
    info = info if isinstance(info, dict) else {}
    arch = info.get("general.architecture")
    found.hint = arch if isinstance(arch, str) else ""
    parameters = show.get("parameters")
    values = _parameters(parameters if isinstance(parameters, str) else "")
    template = show.get("template")
    template = template if isinstance(template, str) else ""
    stops = " ".join(values.get("stop", ()))
    if named is not None:
        found.dialect = template_dialect(template, named(f"{found.model} {found.hint}"), stops)
        if not found.dialect:
            found.notes.append(f"the template of {found.model} has no FIM markers we know")
    num_ctx = values.get("num_ctx", [""])[-1]
    found.num_ctx = int(num_ctx) if num_ctx.isdigit() else 0
    _told(found, found.num_ctx, "/api/show parameters num_ctx")
    length = info.get(f"{arch}.context_length") if found.hint else None
    _told(found, length, "/api/show model_info context_length")


def _parameters(text: str) -> dict[str, list[str]]:
    """Ollama's ``parameters``: one ``name value`` a line (``stop`` repeated, quoted)."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        name, _, value = line.strip().partition(" ")
        if name:
            values.setdefault(name, []).append(value.strip().strip('"'))
    return values


def template_dialect(template: str, by_name: str = "", stops: str = "") -> str:
    """The dialect whose prefix, suffix and middle markers the (Ollama, Go) template holds
    around ``{{ .Suffix }}``; "" when none does. Families sharing FIM spellings (CodeGemma,
    Qwen) are told apart by the spellings only one of them has (a chat turn's end, a stop:
    ``stops``), else by ``by_name``: the dialect the model's name and architecture tell."""
    if ".Suffix" not in template:
        return ""
    found = []
    for name in SUPPORTED_DIALECTS:
        names = spellings(name)
        if names and all(names[role][0] in template for role in ("prefix", "suffix", "middle")):
            found.append(name)
    if len(found) < 2:
        return found[0] if found else ""
    own = {name: _family_spellings(name) for name in found}
    text = f"{template} {stops}"
    told = [
        name
        for name in found
        if any(s in text for s in own[name].difference(*(own[o] for o in found if o != name)))
    ]
    if len(told) == 1:
        return told[0]
    return by_name if by_name in found else ""


def _family_spellings(name: str) -> set[str]:
    names = spellings(name) or {}
    return {s for role in ("stops", "marker", "file_sep", "repo_name") for s in names.get(role, ())}


def pick_model(
    url: str, offered: list[tuple[str, str]], wanted: str, notes: list[str], named: Named
) -> str:
    """The model to use: ``wanted`` (a note when the engine does not list it), else the only
    one offered, else the first whose name (or ``root``) tells a FIM dialect, a code model's
    first, else the first; a choice among several is logged with the others."""
    names = [name for name, _ in offered]
    if wanted:
        if names and wanted not in names:
            notes.append(f"remoteModel {wanted!r} is not among its models ({', '.join(names)})")
        return wanted
    if len(offered) < 2:
        return names[0] if names else ""
    telling = [name for name, root in offered if named(f"{name} {root}")]
    code = [name for name in telling if "code" in name.lower()]
    picked = (code or telling or names)[0]
    why = "its name tells the FIM dialect" if telling else "no name tells the FIM dialect"
    others = ", ".join(name for name in names if name != picked)
    log.info(
        "%s serves %d models: using %s (%s; also %s); remoteModel chooses",
        url, len(names), picked, why, others,
    )  # fmt: skip
    return picked


def _question(
    found: Discovered,
    http: Http,
    method: str,
    path: str,
    body: dict | None = None,
    what: str = "",
) -> object | None:
    """The engine's answer to one question, or None with a note (and ``found.unreachable``
    when nothing reached it: nothing more is asked then)."""
    try:
        return http.request_json(method, path, body)
    except RemoteError as exc:
        found.notes.append(f"no {what or path} ({_short(exc)})")
        if exc.unreachable:
            found.unreachable = str(exc)
        return None


def _ask(http: Http, path: str, notes: list[str]) -> dict:
    """A GET answered with a JSON object, else {} and a note."""
    try:
        answer = http.request_json("GET", path)
    except RemoteError as exc:
        notes.append(f"no {path} ({_short(exc)})")
        return {}
    return answer if isinstance(answer, dict) else {}


def _told(found: Discovered, value: object, source: str) -> None:
    """The context ``source`` tells, kept when it is the first told (0, absent: not told)."""
    n = _positive(value)
    if n and not found.n_ctx:
        found.n_ctx, found.n_ctx_from = n, source


def _one_token(http: Http, text: str) -> bool:
    answer = http.request_json("POST", "/tokenize", {"content": text, "with_pieces": True})
    tokens = answer.get("tokens") if isinstance(answer, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1:
        return False
    only = tokens[0]
    return not isinstance(only, dict) or only.get("piece", text) == text


def _short(exc: RemoteError) -> str:
    """An error for a one-line note: an engine's error page (HTML, JSON) folded and cut."""
    text = " ".join(str(exc).split())
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 3] + "..."


def _positive(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def pick_slot(total_slots: int, rng: random.Random | None = None) -> int | None:
    """The slot this process keeps to (its prompt cache stays warm there), spread at random
    over the engine's slots so that several users land on different ones; None (no pinning)
    when the engine has one slot or did not say."""
    if total_slots < 2:
        return None
    return (rng or random.Random()).randrange(total_slots)
