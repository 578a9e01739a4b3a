"""A page's state in its address, so a link a lecturer copies reopens the same view.

A page lists its linkable settings once, as typed fields with their defaults and allowed
values; the same list writes the address (only the settings that differ from their defaults)
and reads it back, checking every value. Nothing in an address is trusted: an unknown name, a
choice that does not exist, a number that is not finite or lies outside its range, or a text
that is too long is refused with a message, and the other entries still apply.

>>> spec = LinkSpec([Choice("mode", "max", ("max", "avg")), Int("k", 2, 1, 8), Bool("ceil", False)])
>>> spec.encode({"mode": "avg", "k": 2, "ceil": True})
{'mode': 'avg', 'ceil': '1'}
>>> spec.decode({"mode": "avg", "k": "99"})
({'mode': 'avg'}, ['k=99: must be a whole number from 1 to 8'])

The page side (reading once per session, writing on every run, the "copy link" box) is
``pages/_ui/links.py``'s ``link_state`` / ``write_link_state`` / ``copy_link``.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

MAX_TEXT = 200  # the longest text value a field accepts unless it says otherwise
MAX_VALUE = 2000  # no single query value longer than this is even looked at
MAX_REPORTED = 40  # a refused value is quoted at most this long in a message
SHARED = ("presenter", "class")  # names that belong to the whole app, not to one page: never refused
# (class=CODE: a live class member's address keeps its class, so a reconnect to another replica rejoins)
_INT = re.compile(r"[+-]?\d{1,15}")


class LinkError(ValueError):
    """A page's link fields that cannot work (a programming error, not a user's link)."""


@dataclass(frozen=True)
class Field:
    """One setting in the address.

    ``name`` is the query parameter, ``key`` the page's session-state key (the name when not
    given). ``kind`` is one of "int", "float", "bool", "choice", "text". Numbers need ``low``
    and ``high`` (inclusive); a choice its ``choices``; a text at most ``max_length``
    characters. Use the constructors :func:`Int`, :func:`Float`, :func:`Bool`, :func:`Choice`,
    :func:`Text`.
    """
    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    max_length: int = MAX_TEXT
    key: str | None = None

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", self.name):
            raise LinkError(f"link name {self.name!r}: lower-case letters, digits and _ only")
        if self.kind not in ("int", "float", "bool", "choice", "text"):
            raise LinkError(f"link field {self.name!r}: unknown kind {self.kind!r}")
        if self.kind in ("int", "float") and (self.low is None or self.high is None or self.low > self.high):
            raise LinkError(f"link field {self.name!r}: a number needs low <= high")
        if self.kind == "choice" and not self.choices:
            raise LinkError(f"link field {self.name!r}: a choice needs choices")
        if self.check(self.default) is not None:
            raise LinkError(f"link field {self.name!r}: the default {self.default!r} is not allowed")

    @property
    def state_key(self) -> str:
        return self.key or self.name

    def check(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else what is wrong (for a message)."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be on or off"
        if self.kind == "choice":
            return None if value in self.choices else "must be one of " + ", ".join(map(str, self.choices))
        if self.kind == "text":
            if not isinstance(value, str):
                return "must be text"
            if len(value) > self.max_length:
                return f"is longer than {self.max_length} characters"
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
                return "contains control characters"
            return None
        number = "a whole number" if self.kind == "int" else "a number"
        wrong = f"must be {number} from {_num(self.low)} to {_num(self.high)}"
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return wrong
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return wrong
        if not math.isfinite(value) or not self.low <= value <= self.high:
            return wrong
        return None

    def encode(self, value: Any) -> str:
        """The value as address text (its exact value comes back from :meth:`decode`)."""
        problem = self.check(value)
        if problem:
            raise LinkError(f"{self.name}={value!r} {problem}")
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "float":
            return repr(float(value))  # the shortest text that reads back as the same float
        return str(value)

    def decode(self, text: str) -> Any:
        """The value of address text; raises ValueError with a message for a refused value."""
        if not isinstance(text, str) or len(text) > MAX_VALUE:
            raise ValueError("is too long")
        if self.kind == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("must be 1 or 0")
        if self.kind == "choice":
            for choice in self.choices:  # choices may be numbers: compare as written
                if text == str(choice):
                    return choice
            raise ValueError(self.check(object()))
        if self.kind == "text":
            problem = self.check(text)
            if problem:
                raise ValueError(problem)
            return text
        text = text.strip()
        if self.kind == "int":
            if not _INT.fullmatch(text):
                raise ValueError(self.check(None))
            value: Any = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(self.check(None)) from None
        problem = self.check(value)
        if problem:
            raise ValueError(problem)
        return value


def Int(name: str, default: int, low: int, high: int, *, key: str | None = None) -> Field:
    """A whole number from ``low`` to ``high`` (inclusive)."""
    return Field(name, "int", default, low=low, high=high, key=key)


def Float(name: str, default: float, low: float, high: float, *, key: str | None = None) -> Field:
    """A finite number from ``low`` to ``high`` (inclusive)."""
    return Field(name, "float", float(default), low=low, high=high, key=key)


def Bool(name: str, default: bool, *, key: str | None = None) -> Field:
    """On or off, written 1 or 0."""
    return Field(name, "bool", bool(default), key=key)


def Choice(name: str, default: Any, choices: Iterable, *, key: str | None = None) -> Field:
    """One of ``choices`` (strings or numbers, written as ``str(choice)``)."""
    return Field(name, "choice", default, choices=tuple(choices), key=key)


def Text(name: str, default: str = "", *, max_length: int = MAX_TEXT, key: str | None = None) -> Field:
    """Free text of at most ``max_length`` characters, without control characters."""
    return Field(name, "text", default, max_length=max_length, key=key)


class LinkSpec:
    """The linkable settings of one page."""

    def __init__(self, fields: Iterable[Field]):
        self.fields = tuple(fields)
        names = [f.name for f in self.fields]
        keys = [f.state_key for f in self.fields]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise LinkError("every link field needs its own name and key")
        clash = set(names) & set(SHARED)
        if clash:
            raise LinkError(f"{', '.join(sorted(clash))} belongs to the whole app")
        self._by_name = {f.name: f for f in self.fields}

    def defaults(self) -> dict[str, Any]:
        """Session key -> default value of every field."""
        return {f.state_key: f.default for f in self.fields}

    def encode(self, state: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> dict[str, str]:
        """The query parameters for ``state`` (session key -> value): every field whose value
        differs from its default. A missing key counts as its default; a value the field does
        not allow is left out (the link then opens the default there). ``defaults`` (session
        key -> value) replaces some fields' defaults: the start values of the chosen model,
        which the page puts in place of a setting its address leaves out."""
        defaults = defaults or {}
        out = {}
        for f in self.fields:
            value = state.get(f.state_key, f.default)
            if value != defaults.get(f.state_key, f.default) and f.check(value) is None:
                out[f.name] = f.encode(value)
        return out

    def decode(self, query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The settings an address asks for, and a message for every entry that was refused.

        Returns ``(values, problems)``: ``values`` maps session keys to the checked values of
        the fields present in ``query`` (put them into the page's state before its widgets are
        drawn); ``problems`` are plain-text messages such as ``"k=99: must be a whole number
        from 1 to 8"`` (show them literally: they quote the address).
        """
        values, problems = {}, []
        for name, raw in query.items():
            if name in SHARED:
                continue
            text = raw[-1] if isinstance(raw, (list, tuple)) and raw else raw
            f = self._by_name.get(name)
            if f is None:
                problems.append(f"{_quote(name)}: not a setting of this page")
                continue
            try:
                values[f.state_key] = f.decode(text if isinstance(text, str) else str(text))
            except ValueError as err:
                problems.append(f"{name}={_quote(text)}: {err}")
        return values, problems


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


def _quote(text: Any) -> str:
    text = str(text)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= MAX_REPORTED else text[:MAX_REPORTED] + "…"
