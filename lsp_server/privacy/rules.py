"""The judgement calls of the detectors: which names hold secrets, which values are real.

Kept apart from the regular expressions so each decision is one small, documented function.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter

EMAIL = "EMAIL"
API_KEY = "API_KEY"
TOKEN = "TOKEN"
SECRET = "SECRET"
PASSWORD = "PASSWORD"
PRIVATE_KEY = "PRIVATE_KEY"
IP_ADDRESS = "IP_ADDRESS"
KINDS = (PRIVATE_KEY, API_KEY, TOKEN, SECRET, PASSWORD, EMAIL, IP_ADDRESS)

# --- names --------------------------------------------------------------------------------------
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_PASSWORD_WORDS = {"password", "passwd", "passphrase", "pwd", "pword", "passcode"}
# "pass" alone is also a compiler pass, a test pass...: a password only after one of these.
_PASS_OWNERS = {
    "db", "user", "admin", "root", "login", "smtp", "mail", "email", "ftp", "sftp", "redis",
    "mysql", "pg", "postgres", "ldap", "proxy", "wifi", "http", "basic", "auth", "app", "ssh",
    "sudo", "vnc", "rabbitmq", "mongo", "amqp", "sql", "account", "master", "bind", "keystore",
    "truststore", "store", "key", "database", "rabbit", "imap", "pop", "vpn", "api",
}  # fmt: skip
_SECRET_WORDS = {
    "secret", "token", "key", "credential", "credentials", "auth", "authorization", "apikey",
    "authtoken", "accesstoken", "secretkey", "accesskey", "privatekey", "apitoken", "apisecret",
    "clientsecret", "sessionkey", "signingkey", "masterkey", "licensekey",
}  # fmt: skip
# "<x>_key" names whose value is an identifier or a lookup key, never a credential.
_PLAIN_KEY_OWNERS = {
    "primary", "foreign", "sort", "cache", "partition", "dict", "lookup", "hot", "map", "group",
    "index", "unique", "composite", "row", "column", "idempotency", "dedup", "dedupe", "routing",
    "object", "s3", "storage", "bucket", "file", "config", "registry", "translation", "i18n",
    "react", "hash", "shortcut", "sequence", "next", "prev", "cursor", "page", "state", "query",
    "public", "pub", "publishable", "ssh", "gpg", "pgp", "label", "message", "setting", "env",
}  # fmt: skip


def components(name: str) -> list[str]:
    """``AWS_SECRET_ACCESS_KEY`` / ``clientSecret`` / ``x-api-key`` -> lower-case words."""
    return [p.lower() for p in _SPLIT.split(name) if p]


def name_kind(name: str) -> str | None:
    """PASSWORD or SECRET when the name's last word says the value is one; None otherwise.

    Only the LAST word counts: ``password_field``, ``secret_name``, ``token_types`` and
    ``key_path`` name things about a secret, not the secret itself.
    """
    words = components(name)
    if not words:
        return None
    last, previous = words[-1], words[:-1]
    if last in _PASSWORD_WORDS or last.endswith(("password", "passwd")):
        return PASSWORD
    if last == "pass" and (name.isupper() or (previous and previous[-1] in _PASS_OWNERS)):
        return PASSWORD
    if any(w in ("public", "pub", "publishable") for w in words):
        return None
    if last in _SECRET_WORDS and not (
        last == "key" and previous and previous[-1] in _PLAIN_KEY_OWNERS
    ):
        return SECRET
    return None


# --- values -------------------------------------------------------------------------------------
DOC_PASSWORDS = {
    "password", "passwd", "pass", "pwd", "secret", "token", "changeme", "change_me", "change-me",
    "your_password", "yourpassword", "your-password", "mypassword", "my_password", "redacted",
    "hidden", "placeholder", "none", "null", "nil", "undefined", "example", "sample", "todo",
    "xxx", "your_token", "your-token", "your_api_key", "your-api-key", "your_secret",
}  # fmt: skip
_TEMPLATE = re.compile(
    r"\$\{|\{\{|\{%|%\(|%[sd]\b|\{[A-Za-z_][\w.]*(?:![rsa])?(?::[^{}]*)?\}|\$[A-Za-z_]\w*|^%\w+%$"
)
_MASKED = re.compile(r"[xX*•.#_-]{3,}|(.)\1{3,}")
_PATH = re.compile(
    r"(?:~|\.{1,2})?/|[A-Za-z]:\\|[\w.-]+\.(?:pem|key|json|txt|ya?ml|env|ini|cfg|conf|p12|pfx|crt"
    r"|cer|der|jks|pub|gpg|asc|enc|bin|token|secret|db|sqlite3?)$"
)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_EMAILISH = re.compile(r"[^@\s]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")


def is_reference_or_dummy(value: str) -> bool:
    """Empty, a template or variable reference, a masked or a documentation placeholder."""
    v = value.strip()
    return (
        not v
        or v.lower() in DOC_PASSWORDS
        or bool(_TEMPLATE.search(v))
        or (v.startswith("<") and v.endswith(">"))
        or bool(_MASKED.fullmatch(v))
    )


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s own character distribution."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def _wordy(value: str) -> bool:
    """Mostly words and small numbers (``user_1234_profile``, ``test-secret-for-ci``)."""
    parts = re.findall(r"[A-Za-z]+|\d+", value)
    total = sum(len(p) for p in parts)
    wordy = sum(
        len(p)
        for p in parts
        if (p.isdigit() and len(p) <= 4)
        or (
            len(p) >= 3
            and (p.islower() or p.isupper() or p.istitle())
            and re.search("[aeiouy]", p, re.I)
        )
    )
    return total == 0 or wordy >= 0.8 * total


def high_entropy(value: str) -> bool:
    """A generated secret: long, letters and digits, no spaces, not words, random enough."""
    v = value.strip()
    if len(v) < 16 or any(c.isspace() for c in v) or "://" in v or _EMAILISH.fullmatch(v):
        return False
    if not (any(c.isdigit() for c in v) and any(c.isalpha() for c in v)):
        return False
    if _wordy(v) or _PATH.match(v) or _ENV_NAME.fullmatch(v):
        return False
    if "/" in v and any(c in v for c in "_.-"):  # a relative path; base64 has none of "_.-"
        return False
    if re.fullmatch(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+", v):  # a dotted module/attribute path
        return False
    threshold = 3.0 if re.fullmatch(r"[0-9a-fA-F-]+", v) else (3.3 if len(v) < 24 else 3.5)
    return shannon_entropy(v) >= threshold


_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_DOTTED = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
_TYPE_NAMES = {"str", "string", "int", "bytes", "bool", "float", "any", "secretstr", "object"}
_LITERALS = {"none", "null", "nil", "true", "false", "undefined", "~", "nan", "required"}


def _password_value(name: str, value: str, op: str) -> bool:
    """Is this value, assigned to a password-named thing, a literal password?"""
    v = value
    if len(v.strip()) < 3 or is_reference_or_dummy(v) or _ENV_NAME.fullmatch(v.strip()):
        return False
    if any(c.isspace() for c in v) or v.endswith(":") or _PATH.match(v) or "://" in v:
        return False  # a label, a translation, a prompt, a path, a URL
    if op == "quoted":
        return True
    if op == "kv":  # name=value inside a URL query or a connection string
        return not any(c in v for c in "(){}[]")
    # Unquoted: configuration (.env, INI, YAML, properties) or code (Python, JS)?
    if v.lower() in _LITERALS or v[0] in "!&*|>@%" or v.endswith((",", ";")):
        return False
    if any(c in v for c in "()[]{}") or _DOTTED.fullmatch(v):
        return False  # a call, a subscript, an attribute
    if _IDENT.fullmatch(v):
        if op == "= ":  # `password = pw`: a variable in code (a plain INI word is missed)
            return False
        if op == "=":  # `DB_PASSWORD=hunter2` in .env; `password=pw` is a keyword argument
            return name.isupper() or "." in name or "-" in name  # .env, .properties
        # `password: hunter2` in YAML; `password: str` is an annotation
        return (
            v.lower() not in _TYPE_NAMES and v != name and not re.fullmatch(r"(?:[A-Z][a-z]+)+", v)
        )
    return True


def classify(name: str, value: str, op: str) -> str | None:
    """The kind of secret ``value`` is when assigned to ``name`` (``op``: quoted, kv, =, "= ",
    ": "), or None when it is not one."""
    kind = name_kind(name)
    if kind is None:
        return None
    if kind == PASSWORD:
        return PASSWORD if _password_value(name, value, op) else None
    v = value.strip()
    if is_reference_or_dummy(v) or not high_entropy(v):
        return None
    if op not in ("quoted", "kv") and (v.endswith((",", ";")) or any(c in v for c in "()[]{}")):
        return None
    words = components(name)
    if "aws" in words and "secret" in words and re.fullmatch(r"[A-Za-z0-9/+=]{40}", v):
        return API_KEY
    return SECRET


# --- emails -------------------------------------------------------------------------------------
_DOC_DOMAINS = ("example.com", "example.org", "example.net")
_DOC_TLDS = {"example", "test", "invalid", "localhost", "local"}
_FILE_TLDS = {
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf", "js", "mjs", "ts", "tsx",
    "jsx", "css", "scss", "py", "rb", "go", "rs", "java", "kt", "cpp", "hpp", "json", "yaml",
    "yml", "toml", "xml", "html", "md", "txt", "lock", "zip", "gz", "tar", "whl", "sh", "h", "c",
}  # fmt: skip
_GTLDS = {
    "com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "dev", "app",
    "tech", "cloud", "online", "site", "xyz", "email", "io", "ai", "company", "systems",
    "software", "solutions", "digital", "science", "works", "studio", "agency", "group", "team",
    "inc", "llc", "ltd", "museum", "aero", "coop", "mobi", "jobs", "travel", "tel", "asia", "cat",
    "post", "blog", "page", "shop", "store", "live", "life", "news", "media", "design", "codes",
    "network", "services", "zone", "one", "global", "google", "microsoft", "apple", "amazon",
    "space", "website", "today", "world", "center", "academy", "club", "art", "health", "law",
    "consulting", "run", "host", "security", "social", "support", "tools", "training",
    "university", "vip", "wiki", "work", "capital", "finance", "bank", "insure", "care", "clinic",
    "energy", "engineering", "foundation", "institute", "international", "partners",
    "photography", "press", "productions", "properties", "school", "technology", "ventures",
}  # fmt: skip


def is_real_email(local: str, domain: str, tld: str) -> bool:
    """Not a documentation address, an SSH remote (git@host), or ``icon@2x.png``."""
    domain, tld = domain.lower(), tld.lower()
    if local == "git" or tld in _DOC_TLDS:
        return False
    if domain in _DOC_DOMAINS or domain.endswith(tuple("." + d for d in _DOC_DOMAINS)):
        return False
    if tld in _FILE_TLDS and domain.count(".") == 1:
        return False
    return len(tld) == 2 or tld in _GTLDS


# --- IP addresses -------------------------------------------------------------------------------
_KEPT_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",  # documentation
        "169.254.0.0/16", "fe80::/10",  # link-local (cloud metadata 169.254.169.254 included)
    )
]  # fmt: skip
_PUBLIC_RESOLVERS = {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "208.67.222.222"}


def _netmask(ip: ipaddress.IPv4Address) -> bool:
    bits = int(ip)
    inverted = bits ^ 0xFFFFFFFF
    # contiguous ones from the top (255.255.255.0) or their inverse, a host mask (0.0.0.255)
    return ((bits >> 24) == 0xFF and (inverted & (inverted + 1)) == 0) or (bits & (bits + 1)) == 0


def is_identifying_ip(value: str) -> bool:
    """False for loopback, unspecified, broadcast, netmasks, multicast, link-local, the
    documentation ranges and the public DNS resolvers; True for the rest, private ranges
    included (they map an internal network)."""
    try:
        ip = ipaddress.ip_address(value.split("%")[0])
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast or value in _PUBLIC_RESOLVERS:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and _netmask(ip):
        return False
    return not any(ip.version == n.version and ip in n for n in _KEPT_NETWORKS)
