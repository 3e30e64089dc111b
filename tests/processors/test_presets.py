"""Shipped redaction presets against a corpus of texts that must and must not be redacted."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.processors.api import Tally
from edge_agent.processors.presets import GROUPS, PRESETS, Rule, expand, luhn_ok
from edge_agent.processors.redact import Redactor

# (preset, text, expected text after redaction with the mask "<{rule}>")
POSITIVE = [
    ("email", "mail john.doe@example.com now", "mail <email> now"),
    ("email", "<a.b+tag@mail.example.co.uk>", "<<email>>"),
    ("email", "to: X_Y%z@sub-domain.example.org.", "to: <email>."),
    ("ipv4", "client 10.0.0.1 connected", "client <ipv4> connected"),
    ("ipv4", "ip=192.168.1.254,port=80", "ip=<ipv4>,port=80"),
    ("ipv4", "[127.0.0.1]:8080", "[<ipv4>]:8080"),
    ("ipv4", "end of sentence 255.255.255.0.", "end of sentence <ipv4>."),
    ("ipv6", "from 2001:db8::8a2e:370:7334 ok", "from <ipv6> ok"),
    ("ipv6", "loopback ::1", "loopback <ipv6>"),
    ("ipv6", "link fe80::1%eth0 up", "link <ipv6> up"),
    ("ipv6", "full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full <ipv6>"),
    ("ipv6", "mapped ::ffff:192.0.2.128", "mapped <ipv6>"),
    ("ipv6", "[2001:db8::1]:443", "[<ipv6>]:443"),
    ("mac_address", "hw 00:1a:2b:3c:4d:5e", "hw <mac_address>"),
    ("mac_address", "hw 00-1A-2B-3C-4D-5E.", "hw <mac_address>."),
    ("credit_card", "card 4111111111111111", "card <credit_card>"),
    ("credit_card", "card 4111 1111 1111 1111 exp 12/29", "card <credit_card> exp 12/29"),
    ("credit_card", "card 4111-1111-1111-1111 cvv 123", "card <credit_card> cvv 123"),
    ("credit_card", "amex 3782 822463 10005", "amex <credit_card>"),
    ("credit_card", "mc=5555555555554444;", "mc=<credit_card>;"),
    ("iban", "iban DE89 3704 0044 0532 0130 00", "iban <iban>"),
    ("iban", "GB82WEST12345698765432", "<iban>"),
    ("iban", "DE89 3704 0044 0532 0130 00 ABCD", "<iban> ABCD"),
    ("us_ssn", "ssn 123-45-6789.", "ssn <us_ssn>."),
    ("bearer_token", "Authorization: Bearer abcDEF123._~+/xyz==", "Authorization: Bearer <bearer_token>"),
    ("bearer_token", "sent bearer   abcdefgh12345678", "sent bearer   <bearer_token>"),
    (
        "jwt",
        "t=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "t=<jwt>",
    ),
    ("api_key", "key AKIAIOSFODNN7EXAMPLE used", "key <api_key> used"),
    ("api_key", "ghp_" + "a" * 36, "<api_key>"),
    ("api_key", "token xoxb-123456789012-abcdefABCDEF", "token <api_key>"),
    ("api_key", "AIza" + "B" * 35, "<api_key>"),
    ("api_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "<api_key>"),
    ("api_key", "glpat-" + "x" * 20, "<api_key>"),
    ("secret_assignment", "login password=hunter2&next=1", "login password=<secret_assignment>&next=1"),
    ("secret_assignment", '{"api_key": "abc123"}', '{"api_key": "<secret_assignment>"}'),
    ("secret_assignment", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <secret_assignment>"),
    ("secret_assignment", "PWD : s3cr3t", "PWD : <secret_assignment>"),
    (
        "url_credentials",
        "db postgres://app:hunter2@db:5432/x",
        "db postgres://app:<url_credentials>@db:5432/x",
    ),
    (
        "private_key",
        "key -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
        "key <private_key> done",
    ),
]

NEGATIVE = [
    ("email", "not an email: user@localhost or @handle or a@b"),
    ("ipv4", "version v1.2.3.4 and 1.2.3.4.5 and 999.1.1.1 and 10.0.0 and 1.2.3.256"),
    ("ipv6", "at 12:30:45, std::vector, a::b, dead::beef and MAC 00:1a:2b:3c:4d:5e"),
    ("mac_address", "00:1a:2b:3c:4d and 00:1a-2b:3c:4d:5e and time 12:30:45"),
    (
        "credit_card",
        "4111111111111112 and 1234 5678 9012 3456 and order 123456789012 and 41111111111111111111",
    ),
    ("iban", "DE89 3704 0044 0532 0130 01 and XX00 0000 0000"),
    ("us_ssn", "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000 123-45-67890"),
    ("bearer_token", "bearer short and the bearer of bad news"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9 alone, and eyJ.eyJ."),
    ("api_key", "AKIA123 and ghp_short and sk-learn and npm_x"),
    ("secret_assignment", "password_hash_algorithm=bcrypt and tokens are great and the password is long"),
    ("url_credentials", "https://example.com/path and user@host:22 and ftp://anonymous@host/"),
    ("private_key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
]


def _redactor(*names: str) -> Redactor:
    rules = tuple(Rule.from_preset(p) for p in expand(names))
    return Redactor("t", keys=(), rules=rules, template="<{rule}>")


@pytest.mark.parametrize(("preset", "text", "expected"), POSITIVE)
def test_preset_redacts_positive_examples(preset: str, text: str, expected: str) -> None:
    """Each positive example is redacted by its preset alone, exactly over the sensitive span."""
    tally = Tally()
    assert _redactor(preset).redact_text(text, tally) == expected
    assert tally.redacted[("t", preset)] >= 1


@pytest.mark.parametrize(("preset", "text"), NEGATIVE)
def test_preset_keeps_negative_examples(preset: str, text: str) -> None:
    """Look-alikes (versions, times, failed checksums, prose) are left untouched."""
    tally = Tally()
    assert _redactor(preset).redact_text(text, tally) is None
    assert not tally.redacted


@pytest.mark.parametrize(("preset", "text", "expected"), POSITIVE)
def test_all_presets_together_still_redact_each_example(preset: str, text: str, expected: str) -> None:
    """With every preset combined the sensitive part is still gone (another rule may claim it first)."""
    result = _redactor("all").redact_text(text, Tally())
    assert result is not None
    original_secret = _secret_part(text, expected)
    assert original_secret not in result


def _secret_part(text: str, expected: str) -> str:
    head = 0
    while head < len(expected) and text[head] == expected[head]:
        head += 1
    tail = 0
    while tail < len(expected) - head and text[-1 - tail] == expected[-1 - tail]:
        tail += 1
    return text[head : len(text) - tail]


@pytest.mark.parametrize(("preset", "text", "expected"), POSITIVE)
def test_gate_lets_every_positive_example_through(preset: str, text: str, expected: str) -> None:
    """A preset's gate (the cheap pre-check) is true wherever the preset matches."""
    gate = PRESETS[preset].gate
    assert gate is None or gate(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab9@.:- /=eyJ%+BPRIVATE KEYearer0123456789ABCDEFfx"), max_size=120))
def test_gates_never_skip_a_possible_match(text: str) -> None:
    """For any text, when a preset finds a (validated) match its gate is true: gates skip only hopeless text."""
    for preset in PRESETS.values():
        if preset.gate is None:
            continue
        for match in re.finditer(preset.pattern, text):
            if preset.validate is None or preset.validate(match.group()):
                assert preset.gate(text), (preset.name, text)


def test_every_preset_has_positive_and_negative_examples() -> None:
    """The corpus covers every shipped preset both ways."""
    assert {p for p, _, _ in POSITIVE} == set(PRESETS)
    assert {p for p, _ in NEGATIVE} == set(PRESETS)


def test_groups_expand_to_known_presets_and_unknown_names_fail() -> None:
    """pii/secrets/all expand to presets, each once; an unknown name lists what exists."""
    assert [p.name for p in expand(("pii", "email"))] == list(GROUPS["pii"])
    assert {p.name for p in expand(("all",))} == set(PRESETS)
    with pytest.raises(ValueError, match=r"unknown redaction preset 'emails'.*email"):
        expand(("emails",))


def test_luhn() -> None:
    """Luhn accepts the classic test numbers and rejects a changed digit."""
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005") and luhn_ok("5555555555554444")
    assert not luhn_ok("4111111111111112")


HOSTILE = [
    "a" * 20000 + "@",
    "@" + "a." * 10000,
    "1." * 10000,
    "1" * 20000,
    ":" * 20000,
    "a:" * 10000,
    "1 " * 10000,
    "Bearer " * 3000,
    "eyJ" + "a" * 10000 + ".eyJ" + "b" * 10000,
    "password=" * 3000,
    "-----BEGIN RSA PRIVATE KEY-----" + "x" * 70000,
    "DE89 " + "AAAA " * 4000,
    "x://" + "a" * 10000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: t[:12])
def test_hostile_inputs_stay_fast(text: str) -> None:
    """Inputs built to make regexes backtrack are scanned in well under a second (linear patterns)."""
    redactor = _redactor("all")
    started = time.perf_counter()
    redactor.redact_text(text, Tally())
    assert time.perf_counter() - started < 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1@.:-_ /=eyJ%+Bearer9"), max_size=200))
def test_redaction_of_any_text_never_fails_and_keeps_text_outside_matches(text: str) -> None:
    """Any text is processed without error, and the mask never appears unless something was redacted."""
    tally = Tally()
    once = _redactor("all").redact_text(text, tally)
    assert (once is None) == (not tally.redacted)
    if once is not None:
        assert "<" in once
