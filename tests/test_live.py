"""Issue 27: the live class's store on SQLite and on a real PostgreSQL, its security, answers
counted exactly once under concurrent taps, the slips named after Reveal, and two stores (two
replicas) seeing one class."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings, strategies as st

from vizcore import live, quiz


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'class.db'}"
    return request.getfixturevalue("postgres_cluster")[0]


def test_a_class_from_start_to_reveal(url):
    store = live.LiveStore(url)
    code, key = store.start_class()
    assert len(code) == live.CODE_LENGTH and len(key) >= 32
    assert store.set_view(code, key, "pooling", {"k": "3"}) == 1
    assert store.set_view(code, key, "pooling", {"k": "3"}) == 1  # unchanged: no new version
    for session in ("a", "b", "c"):
        store.join(code.lower(), session)  # the code is typed in any case
    qid = store.ask(code, key, {"type": "quiz", "quiz": "T", "index": 3, "difficulty": "easy"})
    question = quiz.make_question("T", 3, "easy")
    store.answer(code, qid, "a", question.answer_text)
    store.answer(code, qid, "b", "1")
    state = store.state(code)
    assert (state.view, state.version, state.answered, state.members) == (
        {"page": "pooling", "query": {"k": "3"}}, 1, 2, 3)
    assert store.reveal(code, key) == {question.answer_text: 1, "1": 1}
    with pytest.raises(live.LiveError, match="closed"):
        store.answer(code, qid, "c", "2")
    assert "right answer" in store.results_csv(code, key)


def test_only_the_lecturer_key_changes_the_class(url):
    store = live.LiveStore(url)
    code, key = store.start_class()
    other_code, other_key = store.start_class()
    forged = [lambda: store.set_view(code, "x" * len(key), "home", {}),
              lambda: store.set_view(code, other_key, "home", {}),   # another class's key
              lambda: store.ask(code, None, {"type": "quiz", "quiz": "T", "index": 0}),
              lambda: store.reveal(code, code), lambda: store.end_class(code, ""),
              lambda: store.results_csv(code, key[:-1])]
    for attempt in forged:
        with pytest.raises(live.LiveError, match="Only the lecturer"):
            attempt()
    assert store.state(code).version == 0
    assert not store.is_lecturer(code, other_key) and store.is_lecturer(code, key)
    with store.engine.connect() as db:  # the key itself is never stored
        hashes = [row.key_hash for row in db.execute(live.classes_table.select())]
    assert key not in hashes and live.hash_key(key) in hashes


def test_answers_are_checked_and_counted_once_under_concurrent_taps(url):
    store = live.LiveStore(url)
    code, key = store.start_class()
    qid = store.ask(code, key, {"type": "choice", "prompt": "Which?", "choices": ["cat", "dog", "cup"], "answer": 1})
    for bad in ("3", "-1", "x" * 41, "", "1; DROP TABLE live_answers"):
        with pytest.raises(live.LiveError):
            store.answer(code, qid, "s", bad)
    errors = []

    def tap(session: str):
        for _ in range(3):  # the same answer sent three times at once
            try:
                store.answer(code, qid, session, "1")
            except live.LiveError as err:  # "one answer at a time" is an answer already counted
                errors.append(str(err))
    threads = [threading.Thread(target=tap, args=(f"s{i}",)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counts(qid) == {"1": 40}
    assert all("One answer at a time" in e for e in errors)


def test_two_stores_on_one_database_see_one_class(url):
    first, second = live.LiveStore(url), live.LiveStore(url)  # two replicas
    code, key = first.start_class()
    second.set_view(code, key, "saliency", {"model": "imagenet (pretrained)"})
    assert first.state(code).view["page"] == "saliency"
    qid = second.ask(code, key, {"type": "quiz", "quiz": "T", "index": 0})
    first.answer(code, qid, "a", "5")
    assert second.counts(qid) == {"5": 1}


def test_classes_expire_after_the_lecture(tmp_path):
    now = [1000.0]
    store = live.LiveStore(f"sqlite:///{tmp_path / 'c.db'}", clock=lambda: now[0])
    code, key = store.start_class()
    qid = store.ask(code, key, {"type": "quiz", "quiz": "T", "index": 0})
    store.answer(code, qid, "a", "3")
    now[0] += live.CLASS_HOURS * 3600 + 1
    with pytest.raises(live.LiveError, match="No class"):
        store.join(code, "b")
    assert store.expire() == 1 and store.state(code) is None and store.counts(qid) == {}


def test_the_state_cache_reads_once_per_second_for_all_sessions(tmp_path):
    store = live.LiveStore(f"sqlite:///{tmp_path / 'c.db'}")
    code, _ = store.start_class()
    cache = live.StateCache(store, ttl=60)
    for _ in range(300):
        cache.get(code)
    assert cache.reads == 1


def test_without_a_database_the_class_says_why():
    with pytest.raises(live.StoreUnavailable, match="cannot be reached"):
        live.LiveStore("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_restarted_postgresql_is_reconnected(postgres_cluster):
    url, control = postgres_cluster
    store = live.LiveStore(url)
    code, key = store.start_class()
    qid = store.ask(code, key, {"type": "quiz", "quiz": "T", "index": 1})
    store.answer(code, qid, "a", "7")
    control("stop")
    try:
        with pytest.raises(live.StoreUnavailable, match="Reconnecting"):
            store.answer(code, qid, "b", "7")
    finally:
        control("start")
    store.answer(code, qid, "b", "8")  # pool_pre_ping: a fresh connection after the restart
    assert store.counts(qid) == {"7": 1, "8": 1}  # the answer acknowledged before the stop is kept


# --- the slips after Reveal, in the lecture's words ---------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 400), level=st.sampled_from(quiz.DIFFICULTIES))
def test_a_slip_is_named_only_when_it_gives_exactly_that_answer(index, level):
    question = quiz.make_question("SLIPS", index, level, ["conv_shape"])
    spec = question.spec
    batch, channels, h, w = spec["input"]
    if isinstance(spec["padding"], str) or spec["padding"] == 0 or spec["dilation"] != 1:
        return
    kh, kw = spec["kernel"]
    s, p = spec["stride"], spec["padding"]
    no_padding = ((h - kh) // s + 1, (w - kw) // s + 1)
    out = (batch, spec["out_channels"], *no_padding)
    text = str(out if spec["layout"] == "NCHW" else (out[0], out[2], out[3], out[1]))
    if quiz.check_answer(question, text).correct:
        return
    named = quiz.likely_mistake(question, text)
    assert named and "forgot the padding" in named
    right = quiz.format_answer(question.answer)
    assert quiz.likely_mistake(question, right) is None
    no_plus_one = (batch, spec["out_channels"], (h + 2 * p - kh) // s, (w + 2 * p - kw) // s)
    if spec["layout"] == "NCHW" and no_padding != no_plus_one[2:]:
        assert "no +1 after the division" in quiz.likely_mistake(question, str(no_plus_one))


def test_reveal_names_the_common_slips():
    index = next(i for i in range(100) if (lambda q: q.spec["bias"] and q.spec["in_channels"] > 1)(
        quiz.make_question("R", i, "easy", ["conv_params"])))
    question = quiz.make_question("R", index, "easy", ["conv_params"])
    spec = {"type": "quiz", "quiz": "R", "index": index, "difficulty": "easy", "kinds": ["conv_params"]}
    c, f, (kh, kw) = question.spec["in_channels"], question.spec["out_channels"], question.spec["kernel"]
    counts = {str(question.answer): 20, str(c * kh * kw * f): 9, str(kh * kw * f + f): 4, "12345": 1}
    summary = live.summary_of(spec, counts)
    assert summary["right"] == 20 and summary["total"] == 34
    assert summary["wrong"][:2] == [(str(c * kh * kw * f), 9, "forgot the bias (one per filter)"),
                                    (str(kh * kw * f + f), 4,
                                     "forgot the input channels (each filter has a slice per channel)")]
    assert summary["wrong"][2] == ("12345", 1, None)


def test_a_database_that_does_not_answer_is_not_asked_again_at_once(tmp_path):
    """While the database is down, the pages of a process do not each wait for it on every run."""
    store = live.LiveStore(f"sqlite:///{tmp_path / 'c.db'}")
    calls = []

    def down(code):
        calls.append(code)
        raise live.StoreUnavailable("Reconnecting to the class…")
    store.state = down
    cache = live.StateCache(store, ttl=0.5, retry_s=60)
    for _ in range(5):
        with pytest.raises(live.StoreUnavailable):
            cache.get("ABCDE")
    assert calls == ["ABCDE"]


def test_sessions_seen_together_are_members_once(url):
    """The watchers' batch of long polls (pages/_live.py): one write for many sessions, new and known."""
    store = live.LiveStore(url)
    code, _ = store.start_class()
    store.join(code, "a")
    store.seen_many(code, ["a", "b", "c", "b"])
    store.seen_many(code, [])
    assert store.state(code).members == 3
    with store.engine.connect() as db:
        rows = db.execute(live.members_table.select().where(live.members_table.c.code == code)).fetchall()
    assert sorted(r.session for r in rows) == ["a", "b", "c"]
