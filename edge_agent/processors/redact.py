"""The ``redact`` processor: mask or hash sensitive values before they reach the buffer.

Theory of operation: two kinds of rules.

* **Key rules** (``keys``, globs, case-insensitive): the whole value of a
  matching attribute is replaced, whatever its type (an int user id, a list
  of e-mail addresses). Nested maps (structured log bodies, kvlist
  attributes) are searched too, so ``{"user": {"password": ...}}`` is caught.
* **Pattern rules** (``presets`` and ``patterns``): every match inside a
  string value (log bodies, string attribute values, at any depth) is
  replaced; a ``(?P<secret>...)`` group limits the replacement to that part.

All pattern rules are compiled into one alternation, so a string is scanned
once however many rules there are; the matched group says which rule fired.
Keys listed in ``allow_keys`` are never touched (``service.name``).

A replacement is either the ``mask`` text (``{rule}`` expands to the rule
name) or, with ``action = "hash"``, a keyed hash of the original (HMAC-SHA256
or keyed BLAKE2b, hex, truncated to ``hash_length``): equal inputs give
equal outputs, so records stay correlatable, but without the key nobody can
test guesses against them. What was redacted is counted per rule; the
original value is never logged or kept.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.presets import Preset
from edge_agent.processors.records import iter_record_attribute_lists, resource_groups, scope_groups

HashAlgorithm = Literal["hmac-sha256", "blake2b"]
_KEY_CACHE_LIMIT = 4096
_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_NUMBERED_BACKREF = re.compile(r"(?<!\\)\\[1-9]")


@dataclass(frozen=True)
class Rule:
    """One pattern rule: a name for the counters, a regex, an optional validator."""

    name: str
    pattern: str
    validate: Callable[[str], int] | None = None

    @classmethod
    def from_preset(cls, preset: Preset) -> Rule:
        return cls(preset.name, preset.pattern, preset.validate)


def _scoped(rule: Rule, index: int) -> str:
    """The rule's pattern with global flags made local and its secret group renamed uniquely."""
    pattern = rule.pattern
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {rule.name!r} is not a valid regular expression: {exc}") from None
    if _NUMBERED_BACKREF.search(pattern):
        raise ValueError(
            f"pattern {rule.name!r} uses a numbered backreference; name the group "
            "((?P<name>...) and (?P=name)): patterns are combined, so group numbers shift"
        )
    flags = _GLOBAL_FLAGS.match(pattern)
    if flags:
        pattern = f"(?{flags.group(1)}:{pattern[flags.end() :]})"
    return f"(?P<_r{index}>" + pattern.replace("(?P<secret>", f"(?P<_s{index}>") + ")"


class Redactor:
    """The sans-IO redaction engine for one ``redact`` processor instance (thread-safe)."""

    def __init__(
        self,
        name: str,
        *,
        keys: tuple[str, ...],
        rules: tuple[Rule, ...],
        allow_keys: tuple[str, ...] = (),
        template: str = "****",
        hasher: Callable[[bytes], str] | None = None,
        signals: frozenset[Signal] = frozenset(Signal),
    ) -> None:
        """``template`` is the replacement: ``{rule}`` expands to the rule name and, when a
        ``hasher`` is given (``action = "hash"``), ``{hash}`` to the keyed hash of the original."""
        self.name = name
        self._signals = signals
        # rules with validators go last: at the same position, a plain rule wins over a
        # candidate that may turn out to be a false alarm
        self._rules = tuple(sorted(rules, key=lambda r: r.validate is not None))
        self._pattern = _compile(self._rules)
        self._singles: dict[int, re.Pattern[str]] = {}
        self._keys = _glob_regex(keys)
        self._allow = _glob_regex(allow_keys)
        self._template = template
        self._hasher = hasher
        self._key_decisions: dict[str, int] = {}  # key -> 0 plain, 1 redact whole value, 2 allow

    def supports(self, signal: Signal) -> bool:
        return signal in self._signals

    # -- whole request -----------------------------------------------------

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        for group in resource_groups(signal, message):
            self._attributes(group.resource.attributes, tally)
            for scope_group in scope_groups(signal, group):
                self._attributes(scope_group.scope.attributes, tally)
                self._records(signal, scope_group, tally)

    def _records(self, signal: Signal, scope_group: Any, tally: Tally) -> None:
        if signal is Signal.METRICS:
            for metric in scope_group.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    for point in getattr(metric, kind).data_points:
                        self._record_attributes(signal, point, tally)
            return
        records = scope_group.log_records if signal is Signal.LOGS else scope_group.spans
        for record in records:
            self._record_attributes(signal, record, tally)
            if signal is Signal.LOGS and record.HasField("body"):
                self._value(record.body, tally)

    def _record_attributes(self, signal: Signal, record: Any, tally: Tally) -> None:
        for attributes in iter_record_attribute_lists(signal, record):
            self._attributes(attributes, tally)

    # -- values ------------------------------------------------------------

    def _attributes(self, attributes: Any, tally: Tally) -> None:
        for kv in attributes:
            decision = self._decide(kv.key)
            if decision == 1:
                self._replace_whole(kv.value, "key", tally)
            elif decision == 0:
                self._value(kv.value, tally)

    def _decide(self, key: str) -> int:
        decision = self._key_decisions.get(key)
        if decision is None:
            lowered = key.lower()
            if self._allow is not None and self._allow.fullmatch(lowered):
                decision = 2
            elif self._keys is not None and self._keys.fullmatch(lowered):
                decision = 1
            else:
                decision = 0
            if len(self._key_decisions) >= _KEY_CACHE_LIMIT:
                self._key_decisions.clear()
            self._key_decisions[key] = decision
        return decision

    def _value(self, value: Any, tally: Tally) -> None:
        kind = value.WhichOneof("value")
        if kind == "string_value":
            if self._pattern is not None:
                redacted = self.redact_text(value.string_value, tally)
                if redacted is not None:
                    value.string_value = redacted
        elif kind == "kvlist_value":
            self._attributes(value.kvlist_value.values, tally)
        elif kind == "array_value":
            for item in value.array_value.values:
                self._value(item, tally)

    def _replace_whole(self, value: Any, rule: str, tally: Tally) -> None:
        kind = value.WhichOneof("value")
        if kind is None:
            return
        original = b""
        if self._hasher is not None:
            original = (
                value.string_value.encode("utf-8")
                if kind == "string_value"
                else value.SerializeToString(deterministic=True)
            )
        value.string_value = self._substitute(original, rule)
        tally.redact(self.name, rule)

    def redact_text(self, text: str, tally: Tally) -> str | None:
        """``text`` with every pattern match replaced, or None when nothing matched (the fast path)."""
        assert self._pattern is not None
        if self._pattern.search(text) is None:
            return None
        hits: list[str] = []
        result = self._pattern.sub(lambda m: self._replace_match(m, hits, frozenset()), text)
        for rule in hits:
            tally.redact(self.name, rule)
        return result if hits else None

    def _replace_match(self, match: re.Match[str], hits: list[str], excluded: frozenset[int]) -> str:
        index = int((match.lastgroup or "_r0")[2:])
        rule = self._rules[index]
        start, end = match.span()
        secret_group = f"_s{index}"
        if secret_group in match.re.groupindex and match.start(secret_group) >= 0:
            start, end = match.span(secret_group)
        if rule.validate is not None:
            keep = rule.validate(match.string[start:end])
            if not keep:  # a false alarm (failed checksum); another rule may still match inside
                return self._others(match, excluded | {index}, hits)
            end = start + keep
        hits.append(rule.name)
        original = match.string[start:end].encode("utf-8") if self._hasher is not None else b""
        text = match.string
        return text[match.start() : start] + self._substitute(original, rule.name) + text[end : match.end()]

    def _others(self, match: re.Match[str], excluded: frozenset[int], hits: list[str]) -> str:
        """The span of a rejected candidate with the remaining rules applied to it, in context."""
        text, pos, finish = match.string, match.start(), match.end()
        out = []
        while pos < finish:
            best: re.Match[str] | None = None
            for index in range(len(self._rules)):
                if index in excluded:
                    continue
                found = self._single(index).search(text, pos, finish)
                is_earlier = found is not None and (best is None or found.start() < best.start())
                if found is not None and is_earlier and found.end() > found.start():
                    best = found
            if best is None:
                break
            out.append(text[pos : best.start()])
            out.append(self._replace_match(best, hits, excluded))
            pos = best.end()
        out.append(text[pos:finish])
        return "".join(out)

    def _single(self, index: int) -> re.Pattern[str]:
        single = self._singles.get(index)
        if single is None:
            single = self._singles[index] = re.compile(_scoped(self._rules[index], index))
        return single

    def _substitute(self, original: bytes, rule: str) -> str:
        text = self._template.replace("{rule}", rule)
        if self._hasher is not None:
            text = text.replace("{hash}", self._hasher(original))
        return text


def _compile(rules: tuple[Rule, ...]) -> re.Pattern[str] | None:
    """One alternation of every rule, so a string is scanned once; ``ValueError`` names a bad rule."""
    if not rules:
        return None
    parts = [_scoped(rule, i) for i, rule in enumerate(rules)]
    try:
        return re.compile("|".join(parts))
    except re.error as exc:
        raise ValueError(f"redaction patterns do not combine (duplicate group names?): {exc}") from None


def _glob_regex(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g.lower())})" for g in globs))


def make_hasher(key: bytes, algorithm: HashAlgorithm, length: int) -> Callable[[bytes], str]:
    """A keyed hash of a value as ``length`` hex digits."""
    if algorithm == "blake2b":
        if len(key) > 64:
            key = hashlib.blake2b(key).digest()  # BLAKE2b keys are at most 64 bytes
        digest_size = max(1, min(64, (length + 1) // 2))

        def blake(data: bytes) -> str:
            return hashlib.blake2b(data, key=key, digest_size=digest_size).hexdigest()[:length]

        return blake

    def hmac_sha256(data: bytes) -> str:
        return hmac.new(key, data, hashlib.sha256).hexdigest()[:length]

    return hmac_sha256
