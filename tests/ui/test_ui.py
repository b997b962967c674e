"""The web UI end to end in headless Chromium, against a real reference server running the
tour's workflows: the list, its filters and search, the journal timeline, the state and the
retry of a backing-off workflow, cancel from the browser, and a screenshot of a saga that
compensated (kept as an artifact and checked: order of the steps, size, not blank).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import unavailable_reason
from .png import decode
from .stack import UiStack

_UNAVAILABLE = unavailable_reason()
# skip before the stack starts when there is no browser to drive it
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")]


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def user(name: str) -> dict[str, str]:
    return {"name": name, "email": f"{name.lower()}@mail.com"}


def open_list(page: Any, stack: UiStack) -> None:
    page.goto(f"{stack.ui_url}/")
    page.wait_for_selector("#view[data-page=invocations][data-loaded]")


def row_ids(page: Any) -> list[str]:
    return [str(x) for x in page.eval_on_selector_all("#invocations tbody tr[data-id]", "rs => rs.map(r => r.dataset.id)")]


def wait_rows(page: Any, pred: Callable[[list[str]], bool], what: str) -> list[str]:
    deadline = time.monotonic() + 15
    ids = row_ids(page)
    while not pred(ids):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: rows are {ids}")
        page.wait_for_timeout(100)
        ids = row_ids(page)
    return ids


def test_list_shows_invocations(stack: UiStack, page: Any) -> None:
    assert stack.call("SignupWithSagasWorkflow/list-ok/run", user("Bob")).json() is True
    waiting = stack.send("SignupWithTimersWorkflow/list-wait/run", user("Bob"))
    done = stack.find("SignupWithSagasWorkflow/list-ok/run")["id"]
    open_list(page, stack)
    wait_rows(page, lambda ids: {done, waiting} <= set(ids), "both invocations listed")
    row = page.locator(f"#invocations tr[data-id={done}]")
    assert "SignupWithSagasWorkflow/list-ok/run" in row.inner_text()
    assert row.locator(".badge").inner_text() == "succeeded"


def test_filter_and_search(stack: UiStack, page: Any) -> None:
    assert stack.call("SignupWithSagasWorkflow/flt-ok/run", user("Bob")).json() is True
    ok = stack.find("SignupWithSagasWorkflow/flt-ok/run")["id"]
    waiting = stack.send("SignupWithTimersWorkflow/flt-wait/run", user("Bob"))
    wait_for(lambda: stack.invocation(waiting)["status"] == "suspended", 15, "the timers workflow to suspend")
    open_list(page, stack)

    page.select_option("#status-filter", "suspended")
    ids = wait_rows(page, lambda ids: waiting in ids and ok not in ids, "suspended filter")
    statuses = page.eval_on_selector_all("#invocations tbody tr[data-id]", "rs => rs.map(r => r.dataset.status)")
    assert set(statuses) == {"suspended"}, statuses
    assert "status=suspended" in page.url

    page.select_option("#status-filter", "succeeded")
    wait_rows(page, lambda ids: ok in ids and waiting not in ids, "succeeded filter")
    page.select_option("#status-filter", "failed")
    wait_rows(page, lambda ids: ok not in ids and waiting not in ids, "failed filter")

    page.select_option("#status-filter", "all")
    page.fill("#search", "flt-wait")
    wait_rows(page, lambda ids: ids == [waiting], "search by key")
    assert "q=flt-wait" in page.url
    page.fill("#search", ok)
    wait_rows(page, lambda ids: ids == [ok], "search by id")
    page.fill("#search", "SignupWithTimers")
    ids = wait_rows(page, lambda ids: waiting in ids and ok not in ids, "search by service")
    assert all(stack.invocation(i)["service"] == "SignupWithTimersWorkflow" for i in ids)

    # the filter survives a reload (it lives in the URL)
    page.goto(f"{stack.ui_url}/#/invocations?status=suspended&q=flt")
    page.wait_for_selector("#view[data-loaded]")
    wait_rows(page, lambda ids: ids == [waiting], "filter from the URL")
    assert page.locator("#status-filter").input_value() == "suspended"


def test_detail_shows_journal_timeline_state_and_retries(stack: UiStack, page: Any) -> None:
    # Alice's welcome email fails with a retryable error: the workflow backs off forever,
    # after writing its state.
    inv_id = stack.send("SignupWithQueriesWorkflow/detail-alice/run", user("Alice"))
    wait_for(lambda: stack.invocation(inv_id).get("retry_count", 0) >= 1, 20, "a failed attempt")
    page.goto(f"{stack.ui_url}/#/invocations/{inv_id}")
    page.wait_for_selector("#view[data-page=invocations-detail][data-loaded] #timeline")

    titles = page.locator("#timeline .tl-item .title").all_inner_texts()
    assert titles[0] == "Input"
    assert titles[1:] == ["Set state «user»", "Step «create»", "Set state «status»", "Step «activate»", "Step «welcome»"]
    create = page.locator("#timeline .tl-item", has_text="Step «create»")
    assert "→ true" in create.inner_text()
    assert "done" in create.locator(".state").inner_text()
    welcome = page.locator("#timeline .tl-item", has_text="Step «welcome»")
    assert "tl-state-retrying" in (welcome.get_attribute("class") or "")
    assert "Failed to send welcome email for Alice" in welcome.locator(".retry").inner_text()
    assert "Failed to send welcome email for Alice" in page.locator("#last-failure").inner_text()

    state = page.locator("#state")
    page.wait_for_selector("#state tr[data-key=status]")
    assert '"created"' in state.locator("tr[data-key=status]").inner_text()
    assert '"Alice"' in state.locator("tr[data-key=user]").inner_text()

    # kill it from the UI (it would retry forever): confirm, then the outcome shows
    page.once("dialog", lambda d: d.accept())
    page.click("#kill")
    page.wait_for_selector("h1 .badge[data-status=killed]")
    assert stack.invocation(inv_id)["outcome"] == "killed"


def test_calls_link_to_the_callee(stack: UiStack, page: Any) -> None:
    assert stack.call("SignupWithActivitiesWorkflow/act-bob/run", user("Bob")).json() is True
    inv_id = stack.find("SignupWithActivitiesWorkflow/act-bob/run")["id"]
    page.goto(f"{stack.ui_url}/#/invocations/{inv_id}")
    page.wait_for_selector("#timeline")
    callee = page.locator("#timeline .tl-call a.callee").first
    callee_id = callee.inner_text()
    assert re.fullmatch(r"inv_[0-9A-Za-z]+", callee_id)
    callee.click()
    page.wait_for_selector(f"#view[data-page=invocations-detail][data-loaded] .crumbs:has-text('{callee_id}')")
    assert stack.invocation(callee_id)["service"] == "UserService"


def test_cancel_button_cancels_a_waiting_workflow(stack: UiStack, page: Any) -> None:
    inv_id = stack.send("SignupWithTimersWorkflow/cancel-me/run", user("Eve"))
    page.goto(f"{stack.ui_url}/#/invocations/{inv_id}")
    page.wait_for_selector("#timeline")
    timers = page.locator("#timeline .tl-timer")
    wait_for(lambda: timers.count() == 2, 15, "the verification timeout and the first reminder timer")
    assert all("wakes up at" in t for t in timers.all_inner_texts())
    page.wait_for_selector("#timeline .tl-promise")
    assert page.locator("#timeline .tl-promise .title").first.inner_text() == "Await promise «email-verified»"
    # the first reminder (a 15 s timer) fires and shows up live, without a reload
    page.wait_for_selector("#timeline .tl-item:has-text('Step «remind»')", timeout=40_000)

    page.click("#cancel")
    page.wait_for_selector("h1 .badge[data-status=cancelled]", timeout=20_000)
    assert page.locator("#timeline .tl-cancel .title").first.inner_text() == "Cancel requested"
    assert "409" in page.locator("#output").inner_text()
    inv = stack.invocation(inv_id)
    assert inv["outcome"] == "cancelled"
    assert page.locator("#cancel").is_disabled()


def test_screenshot_of_a_saga_that_compensated(stack: UiStack, page: Any, artifacts_dir: Path) -> None:
    assert stack.call("SignupWithSagasWorkflow/Alice/run", user("Alice")).json() is False
    inv_id = stack.find("SignupWithSagasWorkflow/Alice/run")["id"]
    page.goto(f"{stack.ui_url}/#/invocations/{inv_id}")
    page.wait_for_selector("#view[data-loaded] #state")

    titles = page.locator("#timeline .tl-item .title").all_inner_texts()
    assert titles == [
        "Input",
        "Step «create»",
        "Step «activate»",
        "Step «subscribe»",
        "Step «unsubscribe»",  # compensations, in reverse order
        "Step «deactivate»",
        "Step «delete»",
        "Output",
    ]
    failed = page.locator("#timeline .tl-state-failed")
    assert failed.count() == 1
    assert "not available in this country" in failed.inner_text()
    assert page.locator("#output").inner_text().strip().endswith("false")

    shot = artifacts_dir / "saga-compensation.png"
    page.screenshot(path=str(shot), full_page=True)
    image = decode(shot.read_bytes())
    assert image.width == 1280
    assert 600 <= image.height <= 4000
    background = image.pixel(image.width - 1, image.height - 1)
    colours: set[tuple[int, ...]] = set()
    ink = 0
    for y in range(0, image.height, 3):
        for x in range(0, image.width, 3):
            px = image.pixel(x, y)
            colours.add(px)
            ink += px != background
    samples = (image.height // 3 + 1) * (image.width // 3 + 1)
    assert len(colours) > 50, "the screenshot has almost no colours: blank page?"
    assert ink / samples > 0.1, "the screenshot is nearly all background"
    # the failed step's red marker is on the page
    box = page.locator("#timeline .tl-state-failed .marker").bounding_box()
    assert box is not None
    r, g, b = image.pixel(int(box["x"] + box["width"] / 2), int(box["y"] + box["height"] / 2))
    assert r > 150 and g < 100 and b < 100, (r, g, b)


def test_running_timers_workflow_with_state_cancelled_from_the_ui_compensates(stack: UiStack, page: Any) -> None:
    inv_id = stack.send("UiReminderWorkflow/ui-cancel/run", user("Ivy"))
    page.goto(f"{stack.ui_url}/#/invocations/{inv_id}")
    page.wait_for_selector("#timeline")
    # running: reminders arrive live, each after a timer, and the state follows them
    steps = page.locator("#timeline .tl-step")
    wait_for(lambda: steps.count() >= 3, 20, "two reminders after the first step")
    assert page.locator("#timeline .tl-timer").count() >= 2
    assert "wakes up at" in page.locator("#timeline .tl-timer").first.inner_text()
    page.wait_for_selector("#state tr[data-key=reminders]")
    assert '"waiting for verification"' in page.locator("#state tr[data-key=status]").inner_text()
    assert int(page.locator("#state tr[data-key=reminders] td").nth(1).inner_text()) >= 1

    page.click("#cancel")
    page.wait_for_selector("h1 .badge[data-status=cancelled]", timeout=20_000)
    page.wait_for_selector("#timeline .tl-output", timeout=10_000)
    titles = page.locator("#timeline .tl-item .title").all_inner_texts()
    assert "Cancel requested" in titles
    assert titles.index("Step «compensate: delete account»") > titles.index("Cancel requested")
    assert titles[-1] == "Output"
    page.wait_for_selector("#state tr[data-key=status]:has-text('cancelled, account deleted')")
    assert stack.invocation(inv_id)["outcome"] == "cancelled"


def test_deployments_and_services_pages(stack: UiStack, page: Any) -> None:
    assert stack.call("SignupWithQueriesWorkflow/svc-jane/run", user("Jane")).json() is True
    page.goto(f"{stack.ui_url}/#/deployments")
    page.wait_for_selector("#view[data-page=deployments][data-loaded]")
    row = page.locator("#deployments tbody tr").first
    assert stack.sdk_url in row.inner_text()
    assert "SignupWithQueriesWorkflow" in row.inner_text()
    row.locator("a.mono").click()
    page.wait_for_selector("#view[data-page=deployments-detail][data-loaded] #services")
    assert page.locator("#services tr[data-name=UserService]").count() == 1

    page.goto(f"{stack.ui_url}/#/services")
    page.wait_for_selector("#view[data-page=services][data-loaded] #services")
    page.click("#services tr[data-name=SignupWithQueriesWorkflow] td a")
    page.wait_for_selector("#view[data-page=services-detail][data-loaded] #handlers")
    handlers = page.locator("#handlers tbody tr").all_inner_texts()
    assert any(h.startswith("run") for h in handlers) and any(h.startswith("getStatus") for h in handlers)
    page.fill("#state-key", "svc-jane")
    page.click("form button[type=submit]")
    page.wait_for_selector("#state-result td:has-text('created')")
    assert "Jane" in page.locator("#state-result").inner_text()
