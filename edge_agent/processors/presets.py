"""Shipped redaction patterns: personal data and secrets that turn up in logs and attributes.

Each preset is a regular expression, optionally with a ``(?P<secret>...)``
group (only that part is redacted: ``Bearer <token>`` keeps ``Bearer``), and
optionally a validator that looks at a candidate and says how much of it to
redact (0 = a false alarm, keep it): card numbers must pass the Luhn check,
IBANs the ISO 7064 mod-97 check, IPv6 candidates must parse as addresses.

Most presets also have a *gate*: a necessary condition that costs a few
substring tests (an e-mail address contains ``@``; an IPv6 address has
``::`` or at least six colons). Python's ``re`` tries a pattern at every
position of a string, so skipping patterns that cannot match is what keeps
redaction affordable on every log line. Patterns that start with a
character class put their look-behind *after* the first character
(``[0-9](?<![0-9][0-9])...``) so ``re`` can skip ahead to candidate
characters. The tests check each gate against every positive example and
against random text.

The patterns are written to run in time linear in the text (bounded
repetitions, no nested unbounded quantifiers) because they run on untrusted
log lines; ``tests/processors/test_presets.py`` holds the positive and
negative corpus and a timing guard on hostile inputs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GROUPS", "PRESETS", "Preset", "Rule", "expand"]

Validator = Callable[[str], int]  # candidate -> length of its prefix to redact (0: not a match)


@dataclass(frozen=True)
class Preset:
    name: str
    pattern: str
    description: str
    validate: Validator | None = None
    gate: Callable[[str], bool] | None = None  # False only when the pattern cannot match


@dataclass(frozen=True)
class Rule:
    """One pattern rule: a name for the counters, a regex, an optional validator and gate."""

    name: str
    pattern: str
    validate: Callable[[str], int] | None = None
    gate: Callable[[str], bool] | None = None  # returns False only when the pattern cannot match

    @classmethod
    def from_preset(cls, preset: Preset) -> Rule:
        return cls(preset.name, preset.pattern, preset.validate, preset.gate)

    def compile(self) -> re.Pattern[str]:
        """The compiled pattern; ``ValueError`` naming the rule when it is not a valid regex."""
        try:
            return re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern {self.name!r} is not a valid regular expression: {exc}") from None


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(candidate: str) -> int:
    digits = "".join(ch for ch in candidate if ch.isdigit())
    return len(candidate) if 13 <= len(digits) <= 19 and luhn_ok(digits) else 0


def _iban_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _iban(candidate: str) -> int:
    """Longest prefix (at a group boundary) that is a valid IBAN: a following word may have been caught."""
    end = len(candidate)
    while end >= 15:
        compact = candidate[:end].replace(" ", "")
        if 15 <= len(compact) <= 34 and _iban_ok(compact):
            return end
        cut = candidate.rfind(" ", 0, end)
        end = cut if cut > 0 else end - 1
    return 0


def _ipv6(candidate: str) -> int:
    address = candidate.split("%", 1)[0]
    if not any(ch.isdigit() for ch in address):
        return 0  # "a::b", "dead::beef": C++/Rust paths far more often than addresses
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return 0  # a time of day (12:30:45) or a MAC address, not an IPv6 address
    return len(candidate)


def _secret_words(text: str) -> bool:
    low = text.lower()
    return (
        "pass" in low
        or "pwd" in low
        or "secret" in low
        or "token" in low
        or "key" in low
        or "authorization" in low
        or "credential" in low
    )


_DIGITS = b"0123456789"
_SSN_TAIL = re.compile(r"-[0-9]{2}-[0-9]{4}")  # starts with a literal: re jumps between dashes


def _digit_count(text: str) -> int:
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS))  # bytes.translate runs in C


def _ipv4(candidate: str) -> int:
    return len(candidate) if all(int(octet) <= 255 for octet in candidate.split(".")) else 0


_B64URL = r"[A-Za-z0-9_-]"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "email",
            r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,256}@(?:[A-Za-z0-9-]{1,63}\.){1,16}[A-Za-z]{2,63}(?![\w-])",
            "e-mail addresses",
            gate=lambda t: "@" in t,
        ),
        Preset(
            "ipv4",
            r"[0-9](?<![0-9A-Za-z.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![0-9A-Za-z]|\.[0-9])",
            "IPv4 addresses (not glued to letters or more dotted numbers, so v1.2.3.4 is kept)",
            _ipv4,
            gate=lambda t: "." in t,
        ),
        Preset(
            "ipv6",
            r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
            r"(?:%[0-9A-Za-z._-]{1,32})?(?![\w:])",
            "IPv6 addresses, compressed and with zone ids (candidates must parse as addresses)",
            _ipv6,
            gate=lambda t: "::" in t or t.count(":") >= 6,
        ),
        Preset(
            "mac_address",
            r"(?<![\w:-])[0-9A-Fa-f]{2}(?P<macsep>[:-])[0-9A-Fa-f]{2}(?:(?P=macsep)[0-9A-Fa-f]{2}){4}(?![\w:-])",
            "MAC addresses (device identifiers)",
            gate=lambda t: t.count(":") >= 5 or t.count("-") >= 5,
        ),
        Preset(
            "credit_card",
            r"[0-9](?<![0-9][0-9])(?:[0-9]{12,18}|[0-9]{3}(?:[ -][0-9]{4}){3}"
            r"|[0-9]{3}[ -][0-9]{6}[ -][0-9]{5})(?![0-9])",
            "payment card numbers, contiguous or grouped 4-4-4-4 / 4-6-5, that pass the Luhn check",
            _card,
            gate=lambda t: _digit_count(t) >= 13,
        ),
        Preset(
            "iban",
            r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
            r"(?![A-Za-z0-9])",
            "IBANs that pass the mod-97 check",
            _iban,
        ),
        Preset(
            "us_ssn",
            r"[0-9](?<![0-9-][0-9])[0-9]{2}(?<!000)(?<!666)(?<!9[0-9]{2})"
            r"-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![0-9-])",
            "US social security numbers written 123-45-6789",
            gate=lambda t: "-" in t and _SSN_TAIL.search(t) is not None,
        ),
        Preset(
            "bearer_token",
            r"(?i:\bbearer\s{1,8})(?P<secret>[A-Za-z0-9._~+/-]{8,4096}=*)",
            "the credential after 'Bearer' (Authorization headers)",
            gate=lambda t: "earer" in t or "EARER" in t,
        ),
        Preset(
            "jwt",
            rf"(?<![\w-])eyJ{_B64URL}{{2,8192}}\.eyJ{_B64URL}{{2,16384}}\.{_B64URL}{{0,4096}}",
            "JSON Web Tokens (header.payload.signature)",
            gate=lambda t: "eyJ" in t,
        ),
        Preset(
            "api_key",
            r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"
            r"|glpat-[A-Za-z0-9_-]{20,64}|xox[abposr]-[A-Za-z0-9-]{10,255}|AIza[0-9A-Za-z_-]{35}"
            r"|[rs]k_(?:live|test)_[0-9A-Za-z]{16,255}|sk-(?:proj-)?[A-Za-z0-9_-]{20,255}"
            r"|npm_[A-Za-z0-9]{36}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])",
            "well-known API key formats (AWS, GitHub, GitLab, Slack, Google, Stripe, OpenAI, npm, SendGrid)",
        ),
        Preset(
            "secret_assignment",
            r"(?i:\b(?:password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api[_-]?key"
            r"|access[_-]?key|private[_-]?key|authorization|credentials?)[\"']?\s{0,4}[:=]\s{0,4}[\"']?"
            r"(?:(?:bearer|basic|digest|token)\s{1,8})?)(?P<secret>[^\s\"',;&]{1,4096})",
            "values of password=, token:, api_key=, Authorization: ... in text",
            gate=_secret_words,
        ),
        Preset(
            "url_credentials",
            r"\b[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s:/@]{0,256}:(?P<secret>[^\s/@]{1,256})@",
            "the password in scheme://user:password@host",
            gate=lambda t: "://" in t and "@" in t,
        ),
        Preset(
            "private_key",
            r"-----BEGIN [A-Z ]{0,32}PRIVATE KEY-----[\s\S]{0,65536}?-----END [A-Z ]{0,32}PRIVATE KEY-----",
            "PEM private key blocks",
            gate=lambda t: "PRIVATE KEY" in t,
        ),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {
    "pii": ("email", "ipv4", "ipv6", "mac_address", "credit_card", "iban", "us_ssn"),
    "secrets": ("bearer_token", "jwt", "api_key", "secret_assignment", "url_credentials", "private_key"),
}
GROUPS["all"] = GROUPS["pii"] + GROUPS["secrets"]


def expand(names: tuple[str, ...]) -> tuple[Preset, ...]:
    """Presets named by ``names`` (preset or group names), each once, in order; ``ValueError`` if unknown."""
    out: dict[str, Preset] = {}
    for name in names:
        members = GROUPS.get(name, (name,))
        for member in members:
            if member not in PRESETS:
                known = ", ".join([*sorted(GROUPS), *PRESETS])
                raise ValueError(f"unknown redaction preset {name!r}; known: {known}")
            out.setdefault(member, PRESETS[member])
    return tuple(out.values())
