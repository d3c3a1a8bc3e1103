"""Redact secrets and PII from text before it leaves the machine (remote engines only).

``redact(text)`` finds, on the original text, non-overlapping spans of these kinds and replaces
each with a typed placeholder ``<KIND_N>``:

- PRIVATE_KEY  ``-----BEGIN ... PRIVATE KEY-----`` blocks, BEGIN line to END line (also a
  block cut by the end of the text, or the tail of one cut by its start).
- API_KEY      provider formats: AWS AKIA..., GitHub ghp_/gho_/ghu_/ghs_/ghr_/github_pat_, GitLab
  glpat-, Slack xox?- and webhooks, Stripe sk_/rk_ live+test and pk_live_, OpenAI sk-/sk-proj-,
  Anthropic sk-ant-, Google AIza/GOCSPX-, Twilio SK/AC, SendGrid SG., npm_, pypi-, Hugging Face
  hf_, Azure AccountKey=; an AWS secret (40 chars) assigned to an aws+secret name.
- TOKEN        JWTs (eyJ...eyJ...sig) and the credential after ``Bearer``/``Basic``.
- SECRET       a high-entropy value (>= 16 chars, letters and digits, not words, Shannon entropy
  >= 3.3-3.5 bits/char, hex >= 3.0) assigned to a name whose last word is secret/token/key/
  credential(s)/auth/... in Python, JS, Go, YAML, JSON, TOML, .env, INI or a URL query.
- PASSWORD     any literal assigned to a name whose last word is password/passwd/pwd/passphrase
  (low entropy too: the name makes it a secret), and the password of ``scheme://user:PW@host``.
- EMAIL        addresses, except documentation ones (example.com/.org/.net, .test, .example,
  .invalid, .localhost), ``git@host`` remotes and ``icon@2x.png``-like file names.
- IP_ADDRESS   IPv4 and IPv6 addresses, except loopback, unspecified, broadcast, netmasks,
  multicast, link-local, documentation ranges and public DNS resolvers; an IPv4 after a version
  word or a comparison (``version = "10.0.19041.1"``) and ``1.2.3.4``-style single digits on a
  line without a network word are versions.

Only the secret is replaced: the quotes, the name, the URL's user and host stay, so the code
keeps its shape (``api_key = "<API_KEY_1>"``). The same value gets the same placeholder in every
call of the process (a keyed hash of it is remembered, never the value). Model special tokens
(``<|fim_suffix|>``...) are kept verbatim and detection looks across them, so a whole FIM prompt
can be redacted at once. Pure regular expressions and Python: no model, no I/O.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from lsp_server.privacy.detectors import Candidate, detect
from lsp_server.privacy.rules import KINDS

PLACEHOLDER_RE = re.compile(r"<(?:%s)_\d+>" % "|".join(KINDS))  # noqa: UP031
# Special tokens of FIM prompts (Qwen/CodeGemma <|...|>, DeepSeek <｜...｜>, StarCoder,
# SantaCoder, CodeLlama): kept verbatim, never part of a finding.
SPECIAL_TOKEN_RE = re.compile(
    r"<(?:\|[\w.-]{1,40}\||｜[^｜\n]{1,40}｜|fim[_-](?:prefix|suffix|middle|pad)|file_sep"
    r"|repo_name|reponame|filename|gh_stars|end_of_turn|eos|bos|PRE|SUF|MID|EOT)>"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One redacted span ``[start, end)`` of the ORIGINAL text; ``rule`` says which detector."""

    kind: str
    start: int
    end: int
    rule: str = field(default="", compare=False)


@dataclass(frozen=True)
class Redaction:
    """What ``redact`` returns. Holds no secret: only the redacted text and the spans."""

    text: str
    findings: list[Finding]
    placeholders: dict[str, str]  # placeholder -> kind, in order of first appearance

    @property
    def changed(self) -> bool:
        return bool(self.findings)

    def placeholders_in(self, generated: str) -> list[str]:
        """This redaction's placeholders that ``generated`` (e.g. a completion) repeats."""
        return [p for p in self.placeholders if p in generated]


def contains_placeholder(generated: str) -> bool:
    """Whether a completion contains any placeholder (of this call or another)."""
    return "<" in generated and PLACEHOLDER_RE.search(generated) is not None


class _Placeholders:
    """Process-wide ``(kind, value) -> <KIND_N>``, keyed by a salted hash of the value."""

    def __init__(self) -> None:
        self._salt = os.urandom(16)
        self._lock = threading.Lock()
        self._ids: dict[bytes, str] = {}
        self._counts: Counter[str] = Counter()

    def get(self, kind: str, value: str) -> str:
        data = f"{kind}\0{value}".encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(data, key=self._salt, digest_size=16).digest()
        with self._lock:
            placeholder = self._ids.get(digest)
            if placeholder is None:
                self._counts[kind] += 1
                placeholder = self._ids[digest] = f"<{kind}_{self._counts[kind]}>"
            return placeholder


_PLACEHOLDERS = _Placeholders()


def _resolve(candidates: list[Candidate], protected: list[tuple[int, int]]) -> list[Finding]:
    """Greedy: lowest rank first, then the longest span; skip what overlaps a kept span."""
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Finding] = []

    def free(start: int, end: int) -> bool:
        i = bisect.bisect_right(starts, start)
        return not (i and ends[i - 1] > start) and not (i < len(starts) and starts[i] < end)

    def take(start: int, end: int) -> None:
        i = bisect.bisect_right(starts, start)
        starts.insert(i, start)
        ends.insert(i, end)

    for start, end in protected:  # placeholders of an earlier pass: idempotence
        take(start, end)
    for c in sorted(candidates, key=lambda c: (c.rank, c.start - c.end, c.start)):
        if free(c.start, c.end):
            take(c.start, c.end)
            kept.append(Finding(c.kind, c.start, c.end, c.rule))
    return sorted(kept, key=lambda f: f.start)


def _findings(text: str) -> list[Finding]:
    protected = [m.span() for m in PLACEHOLDER_RE.finditer(text)] if "<" in text else []
    return _resolve(detect(text), protected)


def _apply(text: str, findings: list[Finding], names: list[str]) -> Redaction:
    out: list[str] = []
    placeholders: dict[str, str] = {}
    pos = 0
    for finding, name in zip(findings, names, strict=True):
        out.append(text[pos : finding.start])
        out.append(name)
        if name:
            placeholders.setdefault(name, finding.kind)
        pos = finding.end
    out.append(text[pos:])
    return Redaction("".join(out), findings, placeholders)


def _split(pieces: list[str]) -> list[tuple[list[Finding], list[str]]]:
    """Detect on the pieces joined, then give each piece its part of every finding: the first
    part of a finding gets the placeholder, the parts in later pieces get nothing."""
    whole = "".join(pieces)
    starts, pos = [], 0
    for piece in pieces:
        starts.append(pos)
        pos += len(piece)
    out: list[tuple[list[Finding], list[str]]] = [([], []) for _ in pieces]
    for f in _findings(whole):
        name = _PLACEHOLDERS.get(f.kind, whole[f.start : f.end])
        i = bisect.bisect_right(starts, f.start) - 1
        while i < len(pieces) and starts[i] < f.end:
            lo, hi = max(f.start, starts[i]), min(f.end, starts[i] + len(pieces[i]))
            if hi > lo:
                out[i][0].append(Finding(f.kind, lo - starts[i], hi - starts[i], f.rule))
                out[i][1].append(name)
                name = ""
            i += 1
    return out


def _marker_spans(text: str, markers: Iterable[str]) -> list[tuple[int, int]]:
    spans = []
    for m in SPECIAL_TOKEN_RE.finditer(text) if "<" in text else ():
        start, end = m.span()
        if m.group() in ("<PRE>", "<SUF>", "<MID>", "<EOT>"):  # CodeLlama: " <SUF>" and so on
            start -= 1 if start and text[start - 1] == " " else 0
            end += 1 if text.startswith(" ", end) else 0
        spans.append((start, end))
    for marker in markers:
        at = text.find(marker) if marker else -1
        while at >= 0:
            spans.append((at, at + len(marker)))
            at = text.find(marker, at + len(marker))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(text: str, markers: Iterable[str] = ()) -> Redaction:
    """Replace every secret and PII span of ``text`` with its typed placeholder.

    Prompt markers stay verbatim and no finding crosses one: model special tokens
    (``<|fim_suffix|>``, ``<fim_middle>``, ``<PRE>``, ``<｜fim▁hole｜>``, ...) always, and the
    literal ``markers`` given. Detection runs on the text with the markers taken out, so a
    secret cut by the cursor marker (``password = "hun<|fim_suffix|>ter2"``) is still seen
    whole; its part before the marker becomes the placeholder, its part after it is removed.
    """
    marks = _marker_spans(text, markers)
    bounds = [0, *(x for span in marks for x in span), len(text)]
    pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    findings: list[Finding] = []
    names: list[str] = []
    for (offset, _), (local, local_names) in zip(
        pieces, _split([text[a:b] for a, b in pieces]), strict=True
    ):
        findings += [Finding(f.kind, f.start + offset, f.end + offset, f.rule) for f in local]
        names += local_names
    return _apply(text, findings, names)


def redact_around_cursor(prefix: str, suffix: str) -> tuple[Redaction, Redaction]:
    """Redact the text before and after a cursor as ONE text, so a secret the cursor sits in
    (``password = "hun|ter2"``) is still seen whole. A finding crossing the cursor becomes its
    placeholder on the prefix side and nothing on the suffix side."""
    (before, before_names), (after, after_names) = _split([prefix, suffix])
    return _apply(prefix, before, before_names), _apply(suffix, after, after_names)
