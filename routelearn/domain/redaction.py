"""Taking secrets out of text bound for a log line or an error column.

Three shapes are recognised wherever they appear: routelearn API tokens (``rl_<id>_<secret>``:
the key id stays, it names the key without opening it), ``Authorization`` header values, and
the password of a URL (``redis://:pass@``, ``amqp://user:pass@``). Other secrets (a webhook URL
whose path is its key, a bearer token, Flower's password) are replaced by value: the caller
passes them in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

_API_TOKEN = re.compile(r"\b(rl_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,128}")
# "Authorization: Bearer x", "'authorization': 'Basic x'", "Authorization=x": the value goes,
# the scheme stays (it says what kind of credential was there).
_AUTH_HEADER = re.compile(
    r"""(?i)(\bauthorization\b["']?\s*[:=]\s*["']?)"""
    r"""(?:(bearer|basic|token|digest)\s+)?([^\s"',;}]+)"""
)
# scheme://user:password@ (user may be empty); a port ("host:8080/") has no "@" after it.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)@")
# Shorter literal secrets are not replaced: "abc" would mangle ordinary words.
_MIN_LITERAL = 6


def _auth(match: re.Match[str]) -> str:
    scheme = f"{match.group(2)} " if match.group(2) else ""
    return f"{match.group(1)}{scheme}{MASK}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the secrets it holds: ``secrets`` (literal values) first, then the
    recognised shapes."""
    for secret in sorted({s for s in secrets if len(s) >= _MIN_LITERAL}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    if "rl_" in text:
        text = _API_TOKEN.sub(rf"\g<1>{MASK}", text)
    if "authorization" in text.lower():
        text = _AUTH_HEADER.sub(_auth, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    return text
