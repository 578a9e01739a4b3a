"""vizcore.links: a page's state -> address -> the same state; bad addresses refused with a message."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vizcore import links

SPEC = links.LinkSpec([
    links.Choice("mode", "max", ("max", "avg", "global")),
    links.Int("k", 2, 1, 8),
    links.Float("bias", 0.0, -1000.0, 1000.0),
    links.Bool("ceil", False),
    links.Text("code", "", max_length=12),
    links.Choice("size", 28, (28, 64), key="page_size"),
])


@st.composite
def states(draw):
    return {
        "mode": draw(st.sampled_from(["max", "avg", "global"])),
        "k": draw(st.integers(1, 8)),
        "bias": draw(st.floats(-1000, 1000, allow_nan=False)),
        "ceil": draw(st.booleans()),
        "code": draw(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc")),
                             max_size=12)),
        "page_size": draw(st.sampled_from([28, 64])),
    }


@settings(max_examples=150, deadline=None)
@given(states())
def test_state_to_address_to_the_same_state(state):
    query = SPEC.encode(state)
    assert all(isinstance(v, str) for v in query.values())
    values, problems = SPEC.decode(query)
    assert problems == []
    assert {**SPEC.defaults(), **values} == state
    # only what differs from the defaults is written
    assert set(query) == {f.name for f in SPEC.fields if state[f.state_key] != f.default}


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["mode", "k", "bias", "ceil", "code", "size", "other", "presenter"]),
                       st.text(max_size=30), max_size=8))
def test_any_address_gives_allowed_values_or_a_message(query):
    values, problems = SPEC.decode(query)
    by_key = {f.state_key: f for f in SPEC.fields}
    for key, value in values.items():
        assert by_key[key].check(value) is None
    # every entry is either used or reported, except the app-wide ones
    used = {f.name for f in SPEC.fields if f.state_key in values}
    assert len(used) + len(problems) == len([n for n in query if n not in links.SHARED])


@pytest.mark.parametrize("name, text, message", [
    ("k", "99", "k=99: must be a whole number from 1 to 8"),
    ("k", "2.5", "whole number"),
    ("k", "0x10", "whole number"),
    ("bias", "nan", "from -1,000 to 1,000"),
    ("bias", "inf", "must be a number"),
    ("bias", "1e400", "must be a number"),
    ("mode", "median", "must be one of max, avg, global"),
    ("ceil", "maybe", "must be 1 or 0"),
    ("code", "x" * 13, "longer than 12"),
    ("code", "a\nb", "control characters"),
    ("size", "32", "must be one of 28, 64"),
    ("nosuch", "1", "not a setting of this page"),
])
def test_refused_entries_say_why(name, text, message):
    values, problems = SPEC.decode({name: text, "k": "3"} if name != "k" else {name: text})
    assert len(problems) == 1 and message in problems[0]
    assert name not in values


def test_refused_values_are_quoted_short():
    values, problems = SPEC.decode({"mode": "m" * 5000})
    assert not values and len(problems[0]) < 200


def test_numbers_from_numpy_and_choices_of_numbers():
    query = SPEC.encode({"k": np.int64(5), "bias": np.float32(0.5), "page_size": 64})
    assert query == {"k": "5", "bias": "0.5", "size": "64"}
    values, _ = SPEC.decode(query)
    assert values == {"k": 5, "bias": 0.5, "page_size": 64} and isinstance(values["page_size"], int)


def test_values_a_field_refuses_are_not_written():
    assert SPEC.encode({"k": 99, "bias": math.inf, "mode": "median"}) == {}


def test_fields_check_their_own_definition():
    with pytest.raises(links.LinkError):
        links.Int("k", 0, 1, 8)  # default outside the range
    with pytest.raises(links.LinkError):
        links.Choice("m", "a", ())
    with pytest.raises(links.LinkError):
        links.LinkSpec([links.Int("k", 1, 1, 2), links.Int("k", 1, 1, 2)])
    with pytest.raises(links.LinkError):
        links.LinkSpec([links.Bool("presenter", False)])
    with pytest.raises(links.LinkError):
        links.Int("Bad Name", 1, 1, 2)


def test_lists_from_a_query_take_the_last_value():
    assert SPEC.decode({"k": ["2", "7"]})[0] == {"k": 7}
