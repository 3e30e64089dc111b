"""The ``redact`` processor: mask or hash sensitive values before they reach the buffer.

Theory of operation: two kinds of rules.

* **Key rules** (``keys``, globs, case-insensitive): the whole value of a
  matching attribute is replaced, whatever its type (an int user id, a list
  of e-mail addresses). Nested maps (structured log bodies, kvlist
  attributes) are searched too, so ``{"user": {"password": ...}}`` is caught.
* **Pattern rules** (``presets`` and ``patterns``): every match inside a
  string value (log bodies, string attribute values, at any depth) is
  replaced; a ``(?P<secret>...)`` group limits the replacement to that part.

Each pattern rule is its own regex, run only when its *gate* (a cheap
necessary condition such as ``"@" in text``, shipped with the presets) says
it could match, so most strings cost a few substring tests. The matches of
all rules are merged left to right (an overlap keeps the earlier, longer
match), so a candidate that fails its validator never hides another rule's
match. Keys listed in ``allow_keys`` are never touched (``service.name``).

A replacement is the ``template`` text (``{rule}`` expands to the rule name)
or, with ``action = "hash"``, also ``{hash}``: a keyed hash of the original
(HMAC-SHA256 or keyed BLAKE2b, hex, truncated to ``hash_length``). Equal
inputs give equal outputs, so records stay correlatable, but without the key
nobody can test guesses against them. What was redacted is counted per
rule; the original value is never logged or kept.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import Tally
from edge_agent.processors.presets import Rule
from edge_agent.processors.records import iter_record_attribute_lists, resource_groups, scope_groups

HashAlgorithm = Literal["hmac-sha256", "blake2b"]
_KEY_CACHE_LIMIT = 4096
_MEMO_MAX_TEXT = 256  # strings up to this long are remembered within one pass over a request
_MEMO_MAX_ENTRIES = 4096


class _Pass(NamedTuple):
    """State of one :meth:`Redactor.process` call: its tally and the strings already scanned."""

    tally: Tally
    memo: dict[str, tuple[str | None, tuple[str, ...]]]


class _Compiled(NamedTuple):
    name: str
    pattern: re.Pattern[str]
    min_size: int  # shortest text the pattern can match (from the regex parser)
    gate: Callable[[str], bool] | None
    validate: Callable[[str], int] | None
    secret: bool

    @classmethod
    def of(cls, rule: Rule) -> _Compiled:
        pattern = rule.compile()
        return cls(
            rule.name,
            pattern,
            _min_width(rule.pattern),
            rule.gate,
            rule.validate,
            "secret" in pattern.groupindex,
        )


def _min_width(pattern: str) -> int:
    """Shortest text ``pattern`` can match, from the stdlib regex parser (0 when unknown)."""
    try:
        parser: Any = re._parser  # type: ignore[attr-defined]  # Python >= 3.11
    except AttributeError:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    try:
        return int(parser.parse(pattern).getwidth()[0])
    except (re.error, IndexError, TypeError):  # pragma: no cover - compile() already accepted it
        return 0


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
        self._compiled = tuple(_Compiled.of(rule) for rule in rules)
        self._keys = _glob_regex(keys)
        self._allow = _glob_regex(allow_keys)
        self._template = template
        self._hasher = hasher
        self._key_decisions: dict[str, int] = {}  # key -> 0 plain, 1 redact whole value, 2 allow

    def supports(self, signal: Signal) -> bool:
        return signal in self._signals

    # -- whole request -----------------------------------------------------

    def process(self, signal: Signal, message: Any, tally: Tally) -> None:
        run = _Pass(tally, {})
        for group in resource_groups(signal, message):
            self._attributes(group.resource.attributes, run)
            for scope_group in scope_groups(signal, group):
                self._attributes(scope_group.scope.attributes, run)
                self._records(signal, scope_group, run)

    def _records(self, signal: Signal, scope_group: Any, run: _Pass) -> None:
        if signal is Signal.METRICS:
            for metric in scope_group.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    for point in getattr(metric, kind).data_points:
                        self._record_attributes(signal, point, run)
            return
        records = scope_group.log_records if signal is Signal.LOGS else scope_group.spans
        for record in records:
            self._record_attributes(signal, record, run)
            if signal is Signal.LOGS and record.HasField("body"):
                self._value(record.body, run)

    def _record_attributes(self, signal: Signal, record: Any, run: _Pass) -> None:
        for attributes in iter_record_attribute_lists(signal, record):
            self._attributes(attributes, run)

    # -- values ------------------------------------------------------------

    def _attributes(self, attributes: Any, run: _Pass) -> None:
        for kv in attributes:
            decision = self._decide(kv.key)
            if decision == 1:
                self._replace_whole(kv.value, "key", run.tally)
            elif decision == 0:
                self._value(kv.value, run)

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

    def _value(self, value: Any, run: _Pass) -> None:
        kind = value.WhichOneof("value")
        if kind == "string_value":
            if self._compiled:
                self._string(value, run)
        elif kind == "kvlist_value":
            self._attributes(value.kvlist_value.values, run)
        elif kind == "array_value":
            for item in value.array_value.values:
                self._value(item, run)

    def _string(self, value: Any, run: _Pass) -> None:
        # attribute values repeat record after record ("app.log", "/api/items"): scan each once per pass
        text = value.string_value
        known = run.memo.get(text)
        if known is None:
            known = self._redact(text)
            if len(text) <= _MEMO_MAX_TEXT and len(run.memo) < _MEMO_MAX_ENTRIES:
                run.memo[text] = known
        result, rules = known
        for rule in rules:
            run.tally.redact(self.name, rule)
        if result is not None:
            value.string_value = result

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
        result, rules = self._redact(text)
        for rule in rules:
            tally.redact(self.name, rule)
        return result

    def _redact(self, text: str) -> tuple[str | None, tuple[str, ...]]:
        spans = self._find(text)
        if not spans:
            return None, ()
        spans.sort(key=lambda span: (span[0], -span[1]))  # leftmost first, then the longest
        out: list[str] = []
        fired: list[str] = []
        pos = 0
        for start, end, rule in spans:
            if start < pos:
                continue  # overlaps a match already replaced
            original = text[start:end].encode("utf-8") if self._hasher is not None else b""
            out.append(text[pos:start])
            out.append(self._substitute(original, rule))
            fired.append(rule)
            pos = end
        out.append(text[pos:])
        return "".join(out), tuple(fired)

    def _find(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, rule)`` of every validated match of every rule whose gate lets it run."""
        spans: list[tuple[int, int, str]] = []
        size = len(text)
        for name, pattern, min_size, gate, validate, secret in self._compiled:
            # hot loop: most strings stop at the length check or the gate
            if size < min_size or (gate is not None and not gate(text)) or pattern.search(text) is None:
                continue
            for match in pattern.finditer(text):
                start, end = match.span("secret") if secret and match.start("secret") >= 0 else match.span()
                if validate is not None:
                    keep = validate(text[start:end])
                    if not keep:
                        continue  # a false alarm: failed checksum, not an address
                    end = start + keep
                if end > start:
                    spans.append((start, end, name))
        return spans

    def _substitute(self, original: bytes, rule: str) -> str:
        text = self._template.replace("{rule}", rule)
        if self._hasher is not None:
            text = text.replace("{hash}", self._hasher(original))
        return text


def _glob_regex(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    if not globs:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(g.lower())})" for g in globs))


def make_hasher(key: bytes, algorithm: HashAlgorithm, length: int) -> Callable[[bytes], str]:
    """A keyed hash of a value as ``length`` hex digits."""
    import hashlib  # only hashing processors need it (and the OpenSSL bindings behind it)
    import hmac

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
