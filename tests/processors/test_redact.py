"""The redact processor on parsed OTLP requests: key rules, patterns, hashing, counting."""

from __future__ import annotations

import pytest

from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.processors.presets import Rule, expand
from edge_agent.processors.records import parse
from edge_agent.processors.redact import Redactor, make_hasher
from tests.processors.helpers import apply, data_points, kv, log_records, logs, metrics, span_list, spans

KEY = b"k" * 32


def redactor(**kwargs: object) -> Redactor:
    options: dict[str, object] = {"keys": (), "rules": (), "template": "<{rule}>"}
    options.update(kwargs)
    return Redactor("scrub", **options)  # type: ignore[arg-type]


def presets(*names: str) -> tuple[Rule, ...]:
    return tuple(Rule.from_preset(p) for p in expand(names))


def test_key_rules_replace_whole_values_of_any_type_case_insensitively() -> None:
    """Attributes whose key matches a glob lose their whole value (ints and lists too), other keys stay."""
    fragment = logs(("hi", {"Password": "hunter2", "user.id": 42, "tags": ["a", "b"], "ok": "x"}, 9))
    message, tally = apply(redactor(keys=("password", "user.*", "tags")), fragment)
    attrs = kv(log_records(message)[0].attributes)
    assert attrs["Password"] == attrs["user.id"] == attrs["tags"] == "<key>"
    assert attrs["ok"] == "x"
    assert tally.redacted[("scrub", "key")] == 3


def test_patterns_apply_to_bodies_and_string_attributes_at_any_depth() -> None:
    """Matches inside string bodies, string attributes and nested maps/lists are replaced."""
    body = {"msg": "login by bob@example.com", "nested": {"list": ["ip 10.1.2.3", 7]}}
    fragment = logs((body, {"peer": "10.9.9.9:443", "count": 3}, 9), ("plain bob@example.com", None, 9))
    message, tally = apply(redactor(rules=presets("email", "ipv4")), fragment)
    first, second = log_records(message)
    values = {kv.key: kv.value for kv in first.body.kvlist_value.values}
    assert values["msg"].string_value == "login by <email>"
    inner = values["nested"].kvlist_value.values[0].value.array_value.values
    assert inner[0].string_value == "ip <ipv4>" and inner[1].int_value == 7
    assert kv(first.attributes) == {"peer": "<ipv4>:443", "count": 3}
    assert second.body.string_value == "plain <email>"
    assert tally.redacted == {("scrub", "email"): 2, ("scrub", "ipv4"): 2}


def test_nested_map_keys_are_checked_against_key_rules() -> None:
    """A structured body {"user": {"password": ...}} loses the password."""
    fragment = logs(({"user": {"name": "bob", "password": "p"}}, None, 9))
    message, _ = apply(redactor(keys=("password",)), fragment)
    user = log_records(message)[0].body.kvlist_value.values[0].value.kvlist_value.values
    assert {v.key: v.value.string_value for v in user} == {"name": "bob", "password": "<key>"}


def test_allow_keys_are_never_touched() -> None:
    """Values under allow_keys survive both key rules and patterns; the resource is redacted too."""
    fragment = logs(
        ("x", {"client.ip": "10.0.0.1", "server.ip": "10.0.0.2"}, 9),
        resource={"host.ip": "10.0.0.3", "service.name": "10.0.0.4"},
    )
    message, _ = apply(redactor(rules=presets("ipv4"), allow_keys=("server.*", "service.name")), fragment)
    assert kv(log_records(message)[0].attributes) == {"client.ip": "<ipv4>", "server.ip": "10.0.0.2"}
    resource = kv(message.resource_logs[0].resource.attributes)
    assert resource == {"host.ip": "<ipv4>", "service.name": "10.0.0.4"}


def test_span_events_links_and_metric_points_are_covered() -> None:
    """Span, span event and link attributes and metric data point attributes are all redacted."""
    base = spans(("GET /", {"user": "bob"}))
    request = parse(Signal.TRACES, base.payload)
    span = span_list(request)[0]
    span.events.add(name="e").attributes.add(key="user").value.string_value = "bob"
    span.links.add(trace_id=b"t" * 16, span_id=b"s" * 8).attributes.add(key="user").value.int_value = 1
    fragment = Fragment(Signal.TRACES, request.SerializeToString(), 1)
    message, tally = apply(redactor(keys=("user",)), fragment)
    span = span_list(message)[0]
    assert (
        kv(span.attributes)
        == kv(span.events[0].attributes)
        == kv(span.links[0].attributes)
        == {"user": "<key>"}
    )
    assert tally.redacted[("scrub", "key")] == 3
    message, tally = apply(redactor(keys=("user",)), metrics(("m", [({"user": "bob"}, 1.0), ({}, 2.0)])))
    assert [kv(p.attributes) for _, p in data_points(message)] == [{"user": "<key>"}, {}]
    assert tally.redacted[("scrub", "key")] == 1


def test_secret_group_limits_the_replacement_and_custom_patterns_are_named() -> None:
    """(?P<secret>...) keeps the context; a custom rule's name appears in the counts."""
    rules = (Rule("session", r"(?i)sid=(?P<secret>[0-9a-f]{8,})"),)
    message, tally = apply(redactor(rules=rules), logs(("GET /?SID=deadbeef01 HTTP/1.1", None, 9)))
    assert log_records(message)[0].body.string_value == "GET /?SID=<session> HTTP/1.1"
    assert tally.redacted == {("scrub", "session"): 1}


def test_hashing_is_keyed_deterministic_and_hides_the_original() -> None:
    """Equal values hash equal, a different key gives a different hash, the original is gone."""
    hasher = make_hasher(KEY, "hmac-sha256", 16)
    r = redactor(rules=presets("email"), keys=("user",), template="{rule}:{hash}", hasher=hasher)
    fragment = logs(("a@b.io and a@b.io", {"user": "bob"}, 9))
    message, _ = apply(r, fragment)
    body = log_records(message)[0].body.string_value
    first, _, second = body.split(" ")
    assert first == second and first.startswith("email:") and len(first) == len("email:") + 16
    assert "a@b.io" not in body
    assert kv(log_records(message)[0].attributes)["user"].startswith("key:")
    other = redactor(
        rules=presets("email"), template="{rule}:{hash}", hasher=make_hasher(b"x" * 32, "blake2b", 16)
    )
    other_message, _ = apply(other, fragment)
    assert log_records(other_message)[0].body.string_value.split(" ")[0] != first


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "blake2b"])
def test_hashers_give_the_requested_length(algorithm: str) -> None:
    """Both algorithms return hex of the configured length; BLAKE2b accepts keys over 64 bytes."""
    for length in (8, 16, 33, 64):
        digest = make_hasher(b"z" * 100, algorithm, length)(b"value")  # type: ignore[arg-type]
        assert len(digest) == length and int(digest, 16) >= 0


def test_nothing_matched_leaves_the_request_unchanged() -> None:
    """When no rule fires, the tally says unchanged (the chain then forwards the original bytes)."""
    _, tally = apply(redactor(rules=presets("all"), keys=("password",)), logs(("all good", {"a": "b"}, 9)))
    assert not tally.changed and not tally.redacted


def test_signals_outside_the_selection_are_not_supported() -> None:
    """A redactor limited to logs says it has nothing to do for metrics."""
    r = redactor(keys=("x",), signals=frozenset({Signal.LOGS}))
    assert r.supports(Signal.LOGS) and not r.supports(Signal.METRICS)


def test_bad_custom_pattern_is_refused_with_the_rule_name() -> None:
    """An invalid regex is an error naming the rule."""
    with pytest.raises(ValueError, match="pattern 'mine' is not a valid regular expression"):
        redactor(rules=(Rule("mine", "(unclosed"),))


def test_custom_patterns_keep_their_flags_and_backreferences() -> None:
    """A leading (?i) and numbered backreferences work next to presets."""
    r = redactor(rules=(*presets("email"), Rule("code", r"(?i)code-[a-z]{3}"), Rule("twice", r"(\d)\1{3}")))
    message, _ = apply(r, logs(("CODE-ABC and x@y.io pin 7777", None, 9)))
    assert log_records(message)[0].body.string_value == "<code> and <email> pin <twice>"


def test_overlapping_matches_keep_the_leftmost_longest() -> None:
    """Where two rules match overlapping text, the earlier (then longer) match is replaced once."""
    r = redactor(rules=(Rule("short", "bc"), Rule("long", "abcd"), Rule("later", "cde")))
    message, tally = apply(r, logs(("xabcdefg", None, 9)))
    assert log_records(message)[0].body.string_value == "x<long>efg"
    assert tally.redacted == {("scrub", "long"): 1}
