"""Issue 27 in real Chromium: a lecturer at 1280×720 and a student on a phone (390×844, touch)
against one server. The student joins by the link, the question and the answer box are on the
first screen, the buttons are big enough for a thumb, the answer is counted on the projector,
and neither page shows an error (nor the server's log an uncaught one). Then a picture question
from Feature maps: the phone is brought to it with the picture and every choice on its first
screen (a screenshot goes to $VIZCORE_SHOTS when set), and its tap is counted on the lecturer's Live class page."""
from __future__ import annotations

import os
import re
import time

from _chromium import new_page, settle, watch_runs

PHONE = (390, 844)
SHOTS = os.environ.get("VIZCORE_SHOTS")  # a folder: the phone at the picture question goes there, to look at


def test_a_phone_joins_follows_and_answers(server_and_log, browser):
    base, log = server_and_log
    lecturer_ctx, lecturer = new_page(browser, 1280, 720)
    lecturer.goto(f"{base}/live_class")
    settle(lecturer)
    lecturer.get_by_role("button", name="Start a class").click()
    settle(lecturer)
    code = re.search(r"Join code: ([A-Z0-9]{5})", lecturer.inner_text("body")).group(1)
    # The lecturer's browser keeps the key for the lecture (the address never shows it).
    lecturer.wait_for_function(f"() => document.cookie.includes('vizcore_lecturer={code}.')", timeout=15_000)

    phone_ctx, phone = new_page(browser, *PHONE, is_mobile=True, has_touch=True)
    phone.goto(f"{base}/live_class?class={code}")  # the QR code's address
    settle(phone)
    body = phone.inner_text("body")
    assert f"Joined class {code}" in body, body[:500]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE[0]  # no sideways scroll
    # The watcher keeps the phone's anonymous id in a cookie: a reconnect to another replica is the
    # same student (tests/test_hall.py counts it once).
    phone.wait_for_function("() => /(^|; )vizcore_student=[0-9a-f]{24}($|;)/.test(document.cookie)", timeout=15_000)

    lecturer.get_by_role("button", name="Ask the hall").click()
    settle(lecturer)
    prompt = lecturer.locator("[data-testid='stMarkdownContainer']").filter(has_text="?").filter(
        has_not_text="Join code").first.inner_text()
    phone.wait_for_function("() => document.querySelector('input[type=text]') !== null", timeout=15_000)
    settle(phone)
    answer_box = phone.locator("input[type=text]").first
    send = phone.get_by_role("button", name="Send")
    for element in (answer_box, send):  # the question's answer on the first screen, thumb-sized
        box = element.bounding_box()
        assert box and box["y"] + box["height"] <= PHONE[1], f"below the first screen: {box}"
    assert send.bounding_box()["height"] >= 44 or send.bounding_box()["width"] >= 300
    assert prompt.split("\n")[0][:20] in phone.inner_text("body")
    answer_box.fill("12")
    send.tap()
    settle(phone)
    assert "Your answer: 12" in phone.inner_text("body")

    lecturer.wait_for_function("() => document.body.innerText.includes('1 of 1')", timeout=15_000)
    lecturer.get_by_role("button", name="Reveal").click()
    settle(lecturer)
    lecturer.wait_for_function("() => document.body.innerText.includes('Right answer:')", timeout=15_000)
    phone.wait_for_function("() => /right answer|Right:/i.test(document.body.innerText)", timeout=15_000)
    # The lecturer opens another page: the phone follows (the target is 2 s; a fragment
    # polls each second and the process reads the class at most once a second).
    lecturer.get_by_role("link", name="Pooling").click()
    settle(lecturer)
    started = time.monotonic()
    phone.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.includes('Pooling'))",
                            timeout=15_000)
    followed_s = time.monotonic() - started
    print(f"the phone followed the lecturer in {followed_s:.1f} s")
    assert followed_s < 6, followed_s
    settle(phone)

    # A picture question: the lecturer asks from Feature maps; the phone is brought to the Live
    # class page, with the picture and every choice on its first screen.
    started = time.monotonic()
    lecturer.get_by_role("link", name="Feature maps").click()
    settle(lecturer)
    lecturer.get_by_role("button", name="Ask the hall: which class will the network say?").click()
    settle(lecturer)
    phone.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.includes('Live class'))"
                            " && document.querySelector('[data-testid=stMain] img') !== null", timeout=30_000)
    settle(phone)
    if SHOTS:
        phone.screenshot(path=f"{SHOTS}/phone_question.png")
    choices = phone.locator("[data-testid=stMain] [data-testid=stButton] button").filter(has_not_text="Leave")
    assert choices.count() == 4, phone.inner_text("body")[:500]  # the digits model: top-1 and three decoys
    picture = phone.locator("[data-testid=stMain] img").first
    for element in (picture, *choices.all()):
        box = element.bounding_box()
        assert box and box["y"] + box["height"] <= PHONE[1], f"below the first screen: {box}"
    assert picture.bounding_box()["width"] <= 200  # pages/live_class.py: smaller on a phone than on the projector
    assert all(b.bounding_box()["height"] >= 44 for b in choices.all()), [b.bounding_box() for b in choices.all()]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    choices.first.tap()
    settle(phone)
    assert "Your answer:" in phone.inner_text("body")
    lecturer.get_by_role("link", name="Live class", exact=True).click()  # where the count and Reveal are
    settle(lecturer)
    lecturer.wait_for_function("() => document.body.innerText.includes('1 of 1')", timeout=15_000)
    print(f"the picture question went from Feature maps to an answer in {time.monotonic() - started:.1f} s")
    for page in (lecturer, phone):
        assert page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count() == 0

    # The lecturer's replica dies: the browser reconnects in a new session (here: a new tab of the
    # same browser, on the page the lecturer was on). It is the lecturer again, not a student.
    again = lecturer_ctx.new_page()
    watch_runs(again)
    again.goto(f"{base}/feature_maps?class={code}")
    settle(again)
    again.get_by_role("link", name="Live class", exact=True).click()
    settle(again)
    body = again.inner_text("body")
    assert f"Join code: {code}" in body and "1 of 1" in body, body[:500]  # the lecturer's view; no new member
    # A student's forged key in the same cookie makes a student nothing more.
    forged_ctx, forged = new_page(browser, *PHONE, is_mobile=True, has_touch=True)
    forged_ctx.add_cookies([{"name": "vizcore_lecturer", "value": f"{code}.not-the-key", "url": base}])
    forged.goto(f"{base}/live_class?class={code}")
    settle(forged)
    body = forged.inner_text("body")  # a member's line (it follows the lecturer's view), no lecturer's panel
    assert f"Live class {code}: following the lecturer" in body and "Your lecturer link" not in body, body[-300:]
    assert not log.failures(), log.failures()
    forged_ctx.close()
    lecturer_ctx.close()
    phone_ctx.close()
