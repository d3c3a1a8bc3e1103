"""Secret and PII detectors: each proposes candidate spans over the ORIGINAL text.

Overlaps between candidates are resolved in ``redact.py`` (lowest rank wins, then the longer
span). Every detector is a regular expression plus a few Python filters for what the expression
cannot decide (entropy, documentation values, code versus configuration syntax).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from lsp_server.privacy import rules as S
from lsp_server.privacy.rules import (
    API_KEY,
    EMAIL,
    IP_ADDRESS,
    KINDS,
    PASSWORD,
    PRIVATE_KEY,
    TOKEN,
)


class Candidate(NamedTuple):
    start: int
    end: int
    kind: str
    rank: int  # an overlap keeps the lowest rank, then the longer span
    rule: str


# --- private keys: the whole block, BEGIN line to END line -------------------------------------
_PK_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"
# Inside a block: base64, PEM headers (Proc-Type: 4,ENCRYPTED), whitespace, and what a key
# embedded in source adds: quotes, string concatenation, "\n" escapes.
_PK_BODY = r"(?:[A-Za-z0-9+/=\s\"'`,.:-]|\\[nr])"
_PK_BLOCK = re.compile(
    rf"-----BEGIN {_PK_LABEL}-----(?:{_PK_BODY}*?-----END {_PK_LABEL}-----|{_PK_BODY}{{32,}}\Z)"
)
# A window cut inside a key (e.g. the suffix after a cursor placed in one): the key's tail.
_PK_TAIL = re.compile(rf"{_PK_BODY}{{32,}}?-----END {_PK_LABEL}-----")
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/]{32}")


def _private_keys(text: str) -> Iterator[Candidate]:
    if "PRIVATE KEY" not in text:
        return
    for m in _PK_BLOCK.finditer(text):
        if _KEY_MATERIAL.search(m.group()):  # not two marker constants of a PEM parser
            yield Candidate(m.start(), m.end(), PRIVATE_KEY, 0, "private-key")
    tail = _PK_TAIL.match(text)
    if tail and "-----BEGIN" not in tail.group() and _KEY_MATERIAL.search(tail.group()):
        yield Candidate(0, tail.end(), PRIVATE_KEY, 0, "private-key-tail")


# --- provider formats ---------------------------------------------------------------------------
# A pattern starts with its literal prefix (no look-behind: the regex engine then skips ahead fast)
# and runs only when one of its needles is in the text; the left edge is checked in Python.
_R = r"(?![A-Za-z0-9_])"  # right edge of a token
_RD = r"(?![A-Za-z0-9_-])"  # right edge of a token whose alphabet has "-"


def _mixed(value: str) -> bool:
    """A random token, not an identifier: digits and letters both present."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


# (rule, kind, needles, pattern, group to redact, validator of that group or None)
_PROVIDER_TABLE: list[tuple[str, str, tuple[str, ...], str, int, Callable[[str], bool] | None]] = [
    ("aws-access-key-id", API_KEY, ("AKIA", "ASIA", "ABIA", "ACCA"),
     rf"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{{16}}{_R}", 0, None),
    ("github", API_KEY, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
     rf"gh[pousr]_[A-Za-z0-9]{{36,251}}{_R}", 0, None),
    ("github-pat", API_KEY, ("github_pat_",), rf"github_pat_[A-Za-z0-9_]{{60,255}}{_R}", 0, None),
    ("gitlab", API_KEY, ("glpat-", "glptt-", "gldt-", "glrt-"),
     rf"gl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{{20,}}{_RD}", 0, None),
    ("slack", API_KEY, ("xox",), rf"xox[abposr]-[A-Za-z0-9-]{{10,}}{_RD}", 0, _mixed),
    ("slack-webhook", API_KEY, ("hooks.slack.com",),
     r"hooks\.slack\.com/services/(T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,})", 1, None),
    ("stripe", API_KEY, ("k_live_", "k_test_"),
     rf"(?:sk_live|rk_live|pk_live|sk_test|rk_test)_[A-Za-z0-9]{{16,}}{_R}", 0, None),
    ("anthropic", API_KEY, ("sk-ant-",), rf"sk-ant-[A-Za-z0-9_-]{{32,}}{_RD}", 0, None),
    ("openai", API_KEY, ("sk-",),
     rf"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{{32,}}|[A-Za-z0-9]{{32,}}){_RD}", 0, _mixed),
    ("google-api", API_KEY, ("AIza",), rf"AIza[A-Za-z0-9_-]{{35}}{_RD}", 0, None),
    ("google-oauth-secret", API_KEY, ("GOCSPX-",), rf"GOCSPX-[A-Za-z0-9_-]{{28}}{_RD}", 0, None),
    ("twilio", API_KEY, ("SK", "AC"), rf"(?:SK|AC)[0-9a-f]{{32}}{_R}", 0, None),
    ("sendgrid", API_KEY, ("SG.",), rf"SG\.[A-Za-z0-9_-]{{22}}\.[A-Za-z0-9_-]{{43}}{_RD}", 0, None),
    ("npm", API_KEY, ("npm_",), rf"npm_[A-Za-z0-9]{{36}}{_R}", 0, None),
    ("pypi", API_KEY, ("pypi-AgE",), rf"pypi-AgE[A-Za-z0-9_-]{{50,}}{_RD}", 0, None),
    ("huggingface", API_KEY, ("hf_",), rf"hf_[A-Za-z0-9]{{34,}}{_R}", 0, _mixed),
    ("azure-account-key", API_KEY, ("Key=",),
     r"(?:Account|SharedAccess)Key=([A-Za-z0-9+/]{20,}={0,2})", 1, None),
    ("jwt", TOKEN, ("eyJ",),
     rf"eyJ[A-Za-z0-9_-]{{8,}}\.eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]*{_RD}", 0, None),
    ("authorization-header", TOKEN, ("Bearer", "Basic"),
     r"(?:Bearer|Basic)[ \t]+([A-Za-z0-9._~+/-]{16,}=*)(?![A-Za-z0-9._~+/=-])", 1, _mixed),
]  # fmt: skip
_PROVIDERS = [(r, k, n, re.compile(p), g, c) for r, k, n, p, g, c in _PROVIDER_TABLE]


def _word_char(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "_")


def _providers(text: str) -> Iterator[Candidate]:
    for rule, kind, needles, pattern, group, check in _PROVIDERS:
        if not any(n in text for n in needles):
            continue
        rank = 2 if rule == "authorization-header" else 1
        for m in pattern.finditer(text):
            if not _word_char(text, m.start() - 1) and (check is None or check(m.group(group))):
                yield Candidate(m.start(group), m.end(group), kind, rank, rule)


# --- passwords in URLs: scheme://user:PASSWORD@host ---------------------------------------------
_URL_CREDENTIALS = re.compile(r"://[^\s:/?#@'\"`<>]*:([^\s/?#@'\"`]+)@(?=[A-Za-z0-9\[])")


def _url_passwords(text: str) -> Iterator[Candidate]:
    if "://" not in text:
        return
    for m in _URL_CREDENTIALS.finditer(text):
        value = m.group(1)
        if not (m.start() and text[m.start() - 1].isalnum()):
            continue  # no scheme before "://"
        if not S.is_reference_or_dummy(value) and value.lower() not in S.DOC_PASSWORDS:
            yield Candidate(m.start(1), m.end(1), PASSWORD, 2, "url-password")


# --- secrets assigned to secret-looking names ---------------------------------------------------
# First letter as a class, the rest case-insensitive: ~7x faster than (?i) on the whole.
_KEYWORD = re.compile(r"[pPsStTkKcCaA](?i:ass|wd|ecret|oken|ey|redential|uth)")
_NAME = r"[A-Za-z_$][\w$.-]*"
_QUOTED = re.compile(
    rf"(?<![\w$.-])(?P<nq>[\"']?)(?P<name>{_NAME})(?P=nq)\]?"
    r"\s*(?:=>|:=|=(?!=)|:(?:[ \t]*[A-Za-z_][\w\[\]., |]{0,60}?[ \t]*=(?!=))?)\s*"
    r"(?:[rRbBuU]{1,2})?(?P<q>[\"'`])(?P<value>(?:(?!(?P=q))[^\\\n]|\\.)*)(?P=q)"
)
_BARE = re.compile(
    r"[ \t]*(?:export[ \t]+|-[ \t]+)?(?P<name>[A-Za-z_][\w.-]*)"
    r"(?P<op>[ \t]*=[ \t]*|:[ \t]+)(?P<value>[^\s\"'`]\S*?)[ \t]*(?:[ \t][#;].*)?\r?$"
)
_KV = re.compile(r"[?&;\"'][ \t]*(?P<name>[A-Za-z_][\w-]*)=(?P<value>[^&;\s\"'`#<>]+)")


def _assignments(text: str) -> Iterator[Candidate]:
    done = -1
    for hit in _KEYWORD.finditer(text):
        if hit.start() < done:
            continue
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.start())
        done = end = len(text) if end < 0 else end
        line = text[start:end]
        for m in _QUOTED.finditer(line):
            kind = S.classify(m.group("name"), m.group("value"), "quoted")
            if kind:
                yield Candidate(start + m.start("value"), start + m.end("value"), kind, 3, "assign")
        m = _BARE.match(line)
        if m:
            op = "=" if m.group("op") == "=" else m.group("op").strip() + " "
            kind = S.classify(m.group("name"), m.group("value"), op)
            if kind:
                yield Candidate(start + m.start("value"), start + m.end("value"), kind, 3, "bare")
        if "=" in line:
            for m in _KV.finditer(line):
                kind = S.classify(m.group("name"), m.group("value"), "kv")
                if kind:
                    yield Candidate(start + m.start("value"), start + m.end("value"), kind, 3, "kv")


# --- emails -------------------------------------------------------------------------------------
_EMAIL_DOMAIN = re.compile(
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24}))"
    r"(?![\w-]|\.[A-Za-z0-9])"
)
_LOCAL_RUN = re.compile(r"[\w.%+-]{1,64}\Z")  # the local part: the run before "@", <= 64


def _emails(text: str) -> Iterator[Candidate]:
    if "@" not in text:
        return
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        local = _LOCAL_RUN.search(text, max(0, at - 64), at)
        if not local or not local.group()[0].isalnum():
            continue
        start = local.start()
        if start and (text[start - 1].isalnum() or text[start - 1] in "_.%+-"):
            continue  # a longer run than a local part can be
        if text.endswith("://", 0, start):
            continue  # https://user@host: a URL's user name, kept like the host
        if S.is_real_email(local.group(), m.group("domain"), m.group("tld")):
            yield Candidate(start, m.end(), EMAIL, 4, "email")


# --- IP addresses -------------------------------------------------------------------------------
# Quick candidate shapes (a digit or hex class first: the engine skips ahead fast); the edges,
# the octets and the address itself are checked in Python (``ipaddress``).
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# IPv6: a seed ":hhhh:" (a literal first: fast), widened in Python to its run of hex and colons.
_IPV6_SEED = re.compile(r":[0-9A-Fa-f]{0,4}:")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
_VERSION_BEFORE = re.compile(
    r"(?i)(?<![a-z])(?:version|ver|release|build|revision|rev|firmware|sdk)[\W_]{0,6}$|(?:[=<>~!]=|[~^<>])\s*$"
)
_NETWORK_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:ip|inet|ipv4)(?![a-z])|host|addr|server|dns|proxy|gateway|peer|remote"
    r"|bind|listen|subnet|route|socket|connect|nameserver|firewall"
)


def _edges_ok(text: str, start: int, end: int, left: str, right: str) -> bool:
    """No letter, digit or ``left`` just before; none, ``right`` or ``.digit`` just after."""
    if start and (text[start - 1].isalnum() or text[start - 1] in left):
        return False
    if end < len(text) and (text[end].isalnum() or text[end] in right):
        return False
    return not (text.startswith(".", end) and end + 1 < len(text) and text[end + 1].isdigit())


def _ipv4s(text: str) -> Iterator[Candidate]:
    for m in _IPV4.finditer(text):
        start, end, value = m.start(), m.end(), m.group()
        if not _edges_ok(text, start, end, "_.", "_"):
            continue
        line_start = text.rfind("\n", 0, start) + 1
        if _VERSION_BEFORE.search(text, max(line_start, start - 30), start):
            continue
        if len(value) == 7:  # 1.2.3.4: a version unless the line speaks of networks
            line_end = text.find("\n", end)
            if not _NETWORK_WORDS.search(text, line_start, len(text) if line_end < 0 else line_end):
                continue
        if S.is_identifying_ip(value):
            yield Candidate(start, end, IP_ADDRESS, 5, "ipv4")


def _ipv6s(text: str) -> Iterator[Candidate]:
    done = 0
    for seed in _IPV6_SEED.finditer(text):
        if seed.start() < done:
            continue
        start, end = seed.start(), seed.end()
        while start and text[start - 1] in _HEX_COLON:
            start -= 1
        while end < len(text) and text[end] in _HEX_COLON:
            end += 1
        done = end
        value = text[start:end]
        if not _edges_ok(text, start, end, "_.", "_") or value.count("::") > 1:
            continue
        groups = [g for g in value.split(":") if g]
        if "::" in value:
            if not (
                len(groups) >= 2
                and any(c.isdigit() for c in value)
                and (len(groups) >= 3 or any(c in "abcdefABCDEF" for c in value))
            ):
                continue  # Python slices (1::2), C++/Rust paths made of hex-looking names
        elif len(groups) != 8:
            continue
        if S.is_identifying_ip(value):
            yield Candidate(start, end, IP_ADDRESS, 5, "ipv6")


def _ips(text: str) -> Iterator[Candidate]:
    if "." in text:
        yield from _ipv4s(text)
    if "::" in text or text.count(":") >= 7:
        yield from _ipv6s(text)


DETECTORS = (_private_keys, _providers, _url_passwords, _assignments, _emails, _ips)


def detect(text: str) -> list[Candidate]:
    """Every candidate of every detector, overlapping ones included."""
    return [c for detector in DETECTORS for c in detector(text) if c.end > c.start]


__all__ = ["KINDS", "Candidate", "detect"]
