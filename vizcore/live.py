"""A live class: the hall follows the lecturer's view and answers questions on their phones.

Everything a class is lives in a database (SQLAlchemy): a SQLite file for one machine, PostgreSQL
for a hall across machines. No replica keeps anything another replica needs. The lecturer holds a
long secret *key* (only its SHA-256 is stored, compared in constant time); every change to the
class needs it. Students are anonymous: a random id per browser session, one answer per question
(the last one sent counts, changeable until the question is closed).

    store = LiveStore("sqlite:///class.db")
    code, key = store.start_class()
    store.set_view(code, key, "shape_calculator", {"k": "5"})
    qid = store.ask(code, key, {"type": "quiz", "quiz": "LIVE", "index": 0, "difficulty": "easy"})
    store.answer(code, qid, session_id, "14")
    store.reveal(code, key)
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, create_engine,
                        event, func, select, update)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read off a projector
CODE_LENGTH = 5
CLASS_HOURS = 4.0          # a class expires after a lecture
MAX_ANSWER = 40            # characters of an answer
MAX_VIEW = 4000            # characters of the lecturer's view (page + its link state)
ANSWER_INTERVAL_S = 0.25   # one answer per session at most this often
MAX_CHOICES = 8
MAX_FILTERS = 100_000      # a layer's filter index in a which-filter question
MAX_PICTURE_BYTES = 1_500_000  # a question's picture (a PNG the app drew, at most 256 px a side)

metadata = MetaData()
classes_table = Table(
    "live_classes", metadata,
    Column("code", String(8), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("ended", Boolean, nullable=False, default=False),
    Column("view", Text, nullable=False, default="{}"),          # {"page": ..., "query": {...}}
    Column("version", Integer, nullable=False, default=0),        # bumps with every view change
    Column("question", Integer, nullable=True),                   # the current question's id
)
questions_table = Table(
    "live_questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(8), nullable=False, index=True),
    Column("spec", Text, nullable=False),                         # JSON: what was asked (see ask)
    Column("state", String(10), nullable=False, default="open"),  # open, closed, revealed
    Column("created", Float, nullable=False),
)
answers_table = Table(
    "live_answers", metadata,
    Column("question", Integer, primary_key=True),
    Column("session", String(40), primary_key=True),
    Column("value", String(MAX_ANSWER), nullable=False),
    Column("updated", Float, nullable=False),
)
members_table = Table(
    "live_members", metadata,
    Column("code", String(8), primary_key=True),
    Column("session", String(40), primary_key=True),
    Column("seen", Float, nullable=False),
)
pictures_table = Table(
    "live_pictures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(8), nullable=False, index=True),
    Column("png", LargeBinary, nullable=False),
    Column("created", Float, nullable=False),
)


class LiveError(ValueError):
    """A request the class refuses, with a sentence for the user."""


class StoreUnavailable(LiveError):
    """The database cannot be reached: the class features say so and the app goes on."""


@dataclass(frozen=True)
class ClassState:
    """What every member's page reads, once a second at most per process (:class:`StateCache`)."""
    code: str
    ended: bool
    view: dict
    version: int
    question: dict | None        # {"id", "state", "spec"} of the current question, or None
    answered: int                # answers to the current question
    members: int                 # sessions seen in the last minute
    read_at: float = field(default=0.0, compare=False)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def normalise_code(text: str) -> str:
    """A typed join code as stored: upper case, without spaces or dashes."""
    code = re.sub(r"[\s\-]", "", str(text or "")).upper()
    if not code or len(code) > 8 or any(ch not in CODE_LETTERS for ch in code):
        raise LiveError("A join code is the five letters and digits on the projector.")
    return code


def check_answer_value(spec: dict, value: str) -> str:
    """The answer as stored, or LiveError: a number or shape of at most MAX_ANSWER characters for a
    typed question, one of the choices for a choice question."""
    value = str(value).strip()
    if not value or len(value) > MAX_ANSWER or not value.isprintable():
        raise LiveError(f"An answer is 1 to {MAX_ANSWER} characters.")
    if spec.get("type") == "choice":
        if value not in [str(i) for i in range(len(spec["choices"]))]:
            raise LiveError("Pick one of the choices.")
    elif not re.fullmatch(r"[0-9xX×*,()\s+\-/·yesnoYESNO]+", value):
        raise LiveError("Answer with a number or a shape (digits, x, commas).")
    return value


class LiveStore:
    """The class store. ``url``: a SQLAlchemy database URL (``sqlite:///path`` or
    ``postgresql+psycopg://user@host:port/db``). Safe to share between threads."""

    def __init__(self, url: str, *, clock=time.time):
        self.url = url
        self.clock = clock
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["connect_args"] = {"connect_timeout": 3}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _wal(connection, _record):  # several replicas on one machine share the file
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as err:
            raise StoreUnavailable(f"The class database cannot be reached ({type(err).__name__}).") from None

    # --- the lecturer ---------------------------------------------------------------------

    def start_class(self) -> tuple[str, str]:
        """A new class: its join code and the lecturer's secret key (shown once, kept by them)."""
        key = secrets.token_urlsafe(24)
        now = self.clock()
        for _ in range(20):
            code = "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))
            try:
                with self._begin() as db:
                    db.execute(classes_table.insert().values(
                        code=code, key_hash=hash_key(key), created=now, expires=now + CLASS_HOURS * 3600,
                        ended=False, view="{}", version=0))
                return code, key
            except IntegrityError:
                continue  # the code is taken: draw another
        raise LiveError("Could not find a free join code; try again.")

    def is_lecturer(self, code: str, key: str | None) -> bool:
        """Whether ``key`` is this class's lecturer key (compared in constant time)."""
        if not key:
            return False
        row = self._class_row(code)
        return row is not None and hmac.compare_digest(row.key_hash, hash_key(key))

    def _lecturer(self, code: str, key: str | None):
        row = self._class_row(code)
        if row is None or row.ended or row.expires < self.clock():
            raise LiveError("This class has ended.")
        if not key or not hmac.compare_digest(row.key_hash, hash_key(key)):
            raise LiveError("Only the lecturer can change the class.")
        return row

    def set_view(self, code: str, key: str, page: str, query: dict[str, str]) -> int:
        """The lecturer's page and its link state, for every follower; returns the view's version."""
        row = self._lecturer(code, key)
        view = json.dumps({"page": str(page), "query": {str(k): str(v) for k, v in query.items()}}, sort_keys=True)
        if len(view) > MAX_VIEW:
            raise LiveError("This view's settings are too long to share.")
        if view == row.view:
            return row.version
        with self._begin() as db:
            db.execute(update(classes_table).where(classes_table.c.code == code)
                       .values(view=view, version=classes_table.c.version + 1))
        return row.version + 1

    def ask(self, code: str, key: str, spec: dict) -> int:
        """Ask the hall ``spec`` (the previous question closes). Kinds:

        - ``{"type": "quiz", "quiz": CODE, "index": i, "difficulty": d}``: a shape-quiz question,
          regenerated from its seed wherever it is read (:func:`vizcore.quiz.make_question`);
        - ``{"type": "number", "prompt": ..., "answer": "14", "quiz_spec": ...}``: a typed question;
        - ``{"type": "choice", "prompt": ..., "choices": [...], "answer": i, "picture": id}``: big
          buttons, under the picture ``id`` of :meth:`add_picture` if given.

        A number question's answers are compared as the quiz reads them: "(1,4,5,5)", "1 x 4 x 5 x 5"
        and "(1, 4, 5, 5)" are one answer; ``mistakes`` maps a wrong answer to its slip.
        """
        self._lecturer(code, key)
        spec = _checked_spec(spec)
        if spec.get("picture") is not None and self.picture(code, spec["picture"]) is None:
            raise LiveError("This question's picture is not one of this class's.")
        with self._begin() as db:
            db.execute(update(questions_table).where(questions_table.c.code == code,
                                                     questions_table.c.state == "open").values(state="closed"))
            qid = db.execute(questions_table.insert().values(code=code, spec=json.dumps(spec), state="open",
                                                             created=self.clock())).inserted_primary_key[0]
            db.execute(update(classes_table).where(classes_table.c.code == code).values(question=qid))
        return int(qid)

    def add_picture(self, code: str, key: str, png: bytes) -> int:
        """Store a question's picture with the class (the lecturer's only: a photo on their screen is
        private until they ask about it); returns its id for a choice spec's ``"picture"``."""
        self._lecturer(code, key)
        png = bytes(png)
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise LiveError("A question's picture is a PNG.")
        if len(png) > MAX_PICTURE_BYTES:
            raise LiveError(f"This picture is too large to share ({len(png):,} bytes; at most {MAX_PICTURE_BYTES:,}).")
        with self._begin() as db:
            pid = db.execute(pictures_table.insert().values(code=code, png=png, created=self.clock())
                             ).inserted_primary_key[0]
        return int(pid)

    def picture(self, code: str, picture_id: int) -> bytes | None:
        """A picture of this class (None for another class's id or an unknown one)."""
        with self._connect() as db:
            row = db.execute(select(pictures_table.c.png).where(pictures_table.c.id == int(picture_id),
                                                                pictures_table.c.code == code)).first()
        return bytes(row.png) if row else None

    def reveal(self, code: str, key: str) -> dict[str, int]:
        """Close the current question and show its answers: value -> count."""
        row = self._lecturer(code, key)
        if row.question is None:
            raise LiveError("No question has been asked yet.")
        with self._begin() as db:
            db.execute(update(questions_table).where(questions_table.c.id == row.question)
                       .values(state="revealed"))
        return self.counts(row.question)

    def end_class(self, code: str, key: str) -> None:
        self._lecturer(code, key)
        with self._begin() as db:
            db.execute(update(classes_table).where(classes_table.c.code == code).values(ended=True))

    def results_csv(self, code: str, key: str) -> str:
        """Every question of the class with its answers' counts (anonymous), as CSV."""
        self._lecturer(code, key)
        with self._connect() as db:
            questions = db.execute(select(questions_table).where(questions_table.c.code == code)
                                   .order_by(questions_table.c.id)).fetchall()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["question", "asked", "prompt", "right answer", "answer", "count", "correct"])
        for q in questions:
            spec = json.loads(q.spec)
            shown = describe(spec)
            for value, count in sorted(self.counts(q.id).items(), key=lambda kv: -kv[1]):
                writer.writerow([q.id, time.strftime("%H:%M:%S", time.gmtime(q.created)), shown["prompt"],
                                 shown["answer"], shown["label"](value), count, shown["correct"](value)])
        return out.getvalue()

    # --- everyone --------------------------------------------------------------------------

    def join(self, code: str, session: str) -> None:
        """A session joins (or is seen again in) a class that is running."""
        code = normalise_code(code)
        row = self._class_row(code)
        if row is None or row.ended or row.expires < self.clock():
            raise LiveError("No class is running with this code.")
        self.seen(code, session)

    def seen(self, code: str, session: str) -> None:
        now = self.clock()
        with self._begin() as db:
            changed = db.execute(update(members_table).where(members_table.c.code == code,
                                                             members_table.c.session == session)
                                 .values(seen=now)).rowcount
            if not changed:
                try:
                    with db.begin_nested():
                        db.execute(members_table.insert().values(code=code, session=session, seen=now))
                except IntegrityError:
                    pass  # joined by another request at the same moment

    def seen_many(self, code: str, sessions) -> None:
        """Several sessions seen at once, in one transaction: what a process's watchers collected
        over a few seconds (one write per replica, not one per student's long poll)."""
        sessions = sorted(set(sessions))
        if not sessions:
            return
        now = self.clock()
        with self._begin() as db:
            db.execute(update(members_table).where(members_table.c.code == code,
                                                   members_table.c.session.in_(sessions)).values(seen=now))
            known = set(db.execute(select(members_table.c.session).where(
                members_table.c.code == code, members_table.c.session.in_(sessions))).scalars())
            for session in sessions:
                if session not in known:
                    try:
                        with db.begin_nested():
                            db.execute(members_table.insert().values(code=code, session=session, seen=now))
                    except IntegrityError:
                        pass  # joined by another replica at the same moment

    def answer(self, code: str, question: int, session: str, value: str) -> None:
        """A student's answer to the open question (their earlier one is replaced): counted once."""
        now = self.clock()
        with self._begin() as db:
            q = db.execute(select(questions_table).where(questions_table.c.id == int(question),
                                                         questions_table.c.code == code)).first()
            if q is None or q.state != "open":
                raise LiveError("This question is closed.")
            value = check_answer_value(json.loads(q.spec), value)
            earlier = db.execute(select(answers_table.c.updated).where(
                answers_table.c.question == q.id, answers_table.c.session == session)).first()
            if earlier is not None:
                if now - earlier.updated < ANSWER_INTERVAL_S:
                    raise LiveError("One answer at a time: try again in a moment.")
                db.execute(update(answers_table).where(answers_table.c.question == q.id,
                                                       answers_table.c.session == session)
                           .values(value=value, updated=now))
                return
            try:
                with db.begin_nested():
                    db.execute(answers_table.insert().values(question=q.id, session=session, value=value,
                                                             updated=now))
            except IntegrityError:  # the same answer sent twice at once: the first one counts
                db.execute(update(answers_table).where(answers_table.c.question == q.id,
                                                       answers_table.c.session == session)
                           .values(value=value, updated=now))

    def my_answer(self, question: int, session: str) -> str | None:
        with self._connect() as db:
            row = db.execute(select(answers_table.c.value).where(answers_table.c.question == int(question),
                                                                 answers_table.c.session == session)).first()
        return row.value if row else None

    def counts(self, question: int) -> dict[str, int]:
        with self._connect() as db:
            values = db.execute(select(answers_table.c.value).where(answers_table.c.question == int(question))).scalars()
            return dict(Counter(values))

    def state(self, code: str) -> ClassState | None:
        """The class as every member's page shows it (one read of a few rows)."""
        now = self.clock()
        with self._connect() as db:
            row = db.execute(select(classes_table).where(classes_table.c.code == code)).first()
            if row is None:
                return None
            question, answered = None, 0
            if row.question is not None:
                q = db.execute(select(questions_table).where(questions_table.c.id == row.question)).first()
                question = {"id": q.id, "state": q.state, "spec": json.loads(q.spec)}
                answered = db.execute(select(answers_table.c.session).where(answers_table.c.question == q.id)
                                      .with_only_columns(func.count())).scalar() or 0
            members = db.execute(select(members_table.c.session).where(
                members_table.c.code == code, members_table.c.seen > now - 60).with_only_columns(func.count())).scalar() or 0
        return ClassState(code, bool(row.ended or row.expires < now), json.loads(row.view or "{}"), row.version,
                          question, int(answered), int(members), now)

    def expire(self) -> int:
        """Delete classes whose lecture is over (and their questions, answers and members)."""
        now = self.clock()
        with self._begin() as db:
            old = db.execute(select(classes_table.c.code).where(classes_table.c.expires < now)).scalars().all()
            db.execute(members_table.delete().where(members_table.c.code.in_(old)))
            db.execute(pictures_table.delete().where(pictures_table.c.code.in_(old)))
            qids = db.execute(select(questions_table.c.id).where(questions_table.c.code.in_(old))).scalars().all()
            db.execute(answers_table.delete().where(answers_table.c.question.in_(qids)))
            db.execute(questions_table.delete().where(questions_table.c.code.in_(old)))
            db.execute(classes_table.delete().where(classes_table.c.code.in_(old)))
        return len(old)

    # --- plumbing --------------------------------------------------------------------------

    def _class_row(self, code: str):
        with self._connect() as db:
            return db.execute(select(classes_table).where(classes_table.c.code == code)).first()

    def _connect(self):
        return _Guard(self.engine.connect)

    def _begin(self):
        return _Guard(self.engine.begin)


class _Guard:
    """A connection whose database errors become :class:`StoreUnavailable` (one sentence)."""

    def __init__(self, open_):
        self.open = open_

    def __enter__(self):
        try:
            self.context = self.open()
            return self.context.__enter__()
        except OperationalError as err:
            raise StoreUnavailable("Reconnecting to the class… (the class database does not answer)") from err

    def __exit__(self, kind, value, tb):
        try:
            result = self.context.__exit__(kind, value, tb)
        except OperationalError as err:
            raise StoreUnavailable("Reconnecting to the class… (the class database does not answer)") from err
        if isinstance(value, OperationalError):
            raise StoreUnavailable("Reconnecting to the class… (the class database does not answer)") from value
        return result


def _checked_spec(spec: dict) -> dict:
    kind = spec.get("type")
    if kind == "quiz":
        from vizcore import quiz

        out = {"type": "quiz", "quiz": quiz.normalize_code(spec["quiz"]), "index": int(spec["index"]),
               "difficulty": str(spec.get("difficulty", "easy")), "kinds": [str(k) for k in spec.get("kinds") or []]}
        try:
            quiz.make_question(out["quiz"], out["index"], out["difficulty"], out["kinds"] or None)
        except (ValueError, KeyError) as err:
            raise LiveError(f"This question cannot be made: {err}") from None
        return out
    if kind == "number":
        return {"type": "number", "prompt": str(spec["prompt"])[:500], "answer": str(spec["answer"])[:MAX_ANSWER],
                "mistakes": {str(k)[:MAX_ANSWER]: str(v)[:200] for k, v in dict(spec.get("mistakes", {})).items()}}
    if kind == "choice":
        choices = [str(c)[:80] for c in spec["choices"]][:MAX_CHOICES]
        answer = int(spec["answer"])
        if len(choices) < 2 or not 0 <= answer < len(choices):
            raise LiveError("A choice question needs 2 to 8 choices and the right one among them.")
        picture = spec.get("picture")
        if picture is not None and (isinstance(picture, bool) or not isinstance(picture, int)):
            raise LiveError("A question's picture is the id the class store gave it.")
        out = {"type": "choice", "prompt": str(spec["prompt"])[:500], "choices": choices, "answer": answer,
               "picture": picture}
        if spec.get("filters") is not None:  # "which filter": the filter index behind each choice
            filters, layer = spec["filters"], spec.get("layer")
            if not isinstance(filters, list) or len(filters) != len(choices) or not all(
                    isinstance(f, int) and not isinstance(f, bool) and 0 <= f < MAX_FILTERS for f in filters):
                raise LiveError("A which-filter question names one filter index per choice.")
            if not isinstance(layer, str) or not layer:
                raise LiveError("A which-filter question names its layer.")
            out.update(filters=filters, layer=layer[:80])
        return out
    raise LiveError("Unknown kind of question.")


def describe(spec: dict) -> dict:
    """A question for display: prompt, right answer, and functions value -> label / correct / mistake."""
    if spec["type"] == "quiz":
        from vizcore import quiz

        question = quiz.make_question(spec["quiz"], spec["index"], spec["difficulty"], spec.get("kinds") or None)
        return {"prompt": question.prompt, "answer": question.answer_text, "label": lambda v: v,
                "correct": lambda v: quiz.check_answer(question, v).correct is True,
                "mistake": lambda v: quiz.likely_mistake(question, v), "format": question.answer_format}
    if spec["type"] == "number":
        mistakes = {_as_typed(k): why for k, why in spec.get("mistakes", {}).items()}
        return {"prompt": spec["prompt"], "answer": spec["answer"], "label": _as_typed,
                "correct": lambda v: _as_typed(v) == _as_typed(spec["answer"]),
                "mistake": lambda v: mistakes.get(_as_typed(v)),
                "format": "a shape like (N, C, H, W)" if spec["answer"].startswith("(") else "a number"}
    choices = spec["choices"]
    answer = choices[spec["answer"]]
    if spec.get("filters"):  # the letter, and which filter of which layer it was (the page's 0-based numbers)
        answer += f" (filter {spec['filters'][spec['answer']]} of {spec['layer']})"
    return {"prompt": spec["prompt"], "answer": answer,
            "label": lambda v: choices[int(v)] if v.isdigit() and int(v) < len(choices) else v,
            "correct": lambda v: v == str(spec["answer"]), "mistake": lambda v: None, "format": "one choice"}


def _as_typed(value: str) -> str:
    """A typed number or shape as the quiz writes it ("1x4x5x5" -> "(1, 4, 5, 5)"), so that one
    answer typed two ways is one bar; anything the quiz cannot read stays as typed."""
    from vizcore import quiz

    text = str(value).strip()
    if re.fullmatch(r"\d{1,3}([,' _]\d{3})+", text):  # 1,234: a number with thousands separators
        return re.sub(r"[,' _]", "", text)
    try:
        answer = quiz.parse_answer(text)
    except (quiz.AnswerFormatError, ValueError, TypeError):
        return re.sub(r"\s", "", text)
    return str(answer) if isinstance(answer, int) and not isinstance(answer, bool) else quiz.format_answer(answer)


def summary_of(spec: dict, counts: dict[str, int], top: int = 3) -> dict:
    """What the projector shows after Reveal: the histogram (label -> count, right answer marked),
    and the most common wrong answers with the mistake each reveals. Answers with one label (one
    shape typed two ways) are one bar."""
    shown = describe(spec)
    if spec["type"] == "number":  # the label is the answer as the quiz writes it: one bar per answer
        merged: dict[str, int] = {}
        for value, n in counts.items():
            merged[_as_typed(value)] = merged.get(_as_typed(value), 0) + n
        counts = merged
    histogram = [(shown["label"](v), n, bool(shown["correct"](v))) for v, n in
                 sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    wrong = [(shown["label"](v), n, shown["mistake"](v)) for v, n in
             sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if not shown["correct"](v)][:top]
    total = sum(counts.values())
    right = sum(n for _, n, ok in histogram if ok)
    return {"prompt": shown["prompt"], "answer": shown["answer"], "histogram": histogram, "wrong": wrong,
            "total": total, "right": right}


class StateCache:
    """One read of a class's state per ``ttl`` seconds for all the sessions of a process: 300
    followers on 4 replicas cost the store about 4 reads a second, not 300."""

    def __init__(self, store: LiveStore, ttl: float = 1.0, retry_s: float = 5.0):
        self.store, self.ttl, self.retry_s = store, ttl, retry_s
        self._failed: dict[str, tuple[float, StoreUnavailable]] = {}
        self._lock = threading.Lock()
        self._states: dict[str, ClassState | None] = {}
        self._read: dict[str, float] = {}
        self.reads = 0

    def get(self, code: str, *, fresh: bool = False) -> ClassState | None:
        now = time.monotonic()
        with self._lock:
            if not fresh and code in self._states and now - self._read[code] < self.ttl:
                return self._states[code]
            failed = self._failed.get(code)
            if failed and now - failed[0] < self.retry_s:  # the database did not answer just now:
                raise failed[1]                             # no page waits for it again so soon
        try:
            state = self.store.state(code)
        except StoreUnavailable as err:
            with self._lock:
                self._failed[code] = (now, err)
            raise
        self._failed.pop(code, None)
        with self._lock:
            self.reads += 1
            self._states[code], self._read[code] = state, now
            if len(self._states) > 256:  # classes of a process: a handful; forget the oldest
                oldest = min(self._read, key=self._read.get)
                self._states.pop(oldest, None), self._read.pop(oldest, None)
        return state
