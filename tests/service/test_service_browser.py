"""Each role's main flow in a real browser (Playwright, headless Debian Chromium).

Screenshots go to artifacts/service/ (gitignored). The tests run in file order on one server:
the admin creates the accounts the other roles then use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from svc_helpers import TINY, ThreadServer, bundle_zip, write_bundle

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ECONPLAN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "service"
NEW_PASSWORD = "a long new password"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    from econplan.service.app import Settings, create_app

    tmp = Path(tempfile.mkdtemp(prefix="econplan-browser-"))
    printed: list[str] = []
    app = create_app(
        Settings(
            db_url=f"sqlite:///{tmp / 'b.db'}",
            bundle=write_bundle(tmp / "tiny", TINY),
            announce=printed.append,
        )
    )
    with ThreadServer(app) as srv:
        state["admin_password"] = printed[0].split("one-time password: ")[1].split()[0]
        state["tmp"] = tmp
        yield srv
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests skipped: no Chromium at {CHROMIUM} (scripts/sysdeps.sh)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def first_login(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_url("**/account/password")
    page.fill("#old_password", password)
    page.fill("#new_password", NEW_PASSWORD)
    page.click("#change")
    page.wait_for_load_state()


def test_admin_creates_accounts_and_loads_an_economy(server: ThreadServer, browser: Any) -> None:
    page = browser.new_page()
    base = server.url
    # wrong password first
    page.goto(f"{base}/login")
    page.fill("#username", "admin")
    page.fill("#password", "not the password")
    page.click("#login")
    assert "Wrong username or password" in page.inner_text("#error")
    first_login(page, base, "admin", state["admin_password"])
    assert page.url.endswith("/admin")
    for username, role, techs in [
        ("ana", "person", ""),
        ("ben", "person", ""),
        ("cora", "council", ""),
        ("mill", "workplace", "plant farm"),
    ]:
        page.fill("#new-username", username)
        page.fill("#new-display-name", f"{username.title()} Example")
        page.select_option("#new-role", role)
        page.fill("#new-techniques", techs)
        page.click("#create-user")
        state[username] = page.inner_text("#one-time-password").strip()
        assert len(state[username]) >= 12
    assert "mill" in page.inner_text("#users")
    # load the economy as a new period (zip upload)
    zpath = state["tmp"] / "tiny.zip"
    zpath.write_bytes(bundle_zip())
    page.fill("#period-name", "Spring plan")
    page.set_input_files("#bundle", str(zpath))
    page.click("#load-bundle")
    page.wait_for_url("**/admin")
    assert "Spring plan" in page.inner_text("#periods")
    assert "period" in page.inner_text("#audit")
    shot(page, "admin")
    page.close()


def test_person_states_needs_on_a_phone(server: ThreadServer, browser: Any) -> None:
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    first_login(page, server.url, "ana", state["ana"])
    assert page.url.endswith("/needs")
    page.select_option("#product", "bread")
    page.fill("#quantity", "40")
    page.click("#state-need")
    page.wait_for_url("**/needs?saved=1")
    page.select_option("#product", "care")
    page.fill("#quantity", "25")
    page.click("#state-need")
    page.wait_for_url("**/needs?saved=1")
    table = page.inner_text("#my-needs")
    assert "bread" in table and "40" in table and "care" in table
    # a double submission of the same form is stored once
    page.select_option("#product", "bread")
    page.fill("#quantity", "41")
    form_key = page.get_attribute("input[name=idempotency_key]", "value")
    page.click("#state-need")
    page.wait_for_url("**/needs?saved=1")
    csrf = page.get_attribute("input[name=csrf_token]", "value")
    r = page.request.post(
        f"{server.url}/needs",
        form={
            "product": "bread",
            "quantity": "41",
            "csrf_token": csrf,
            "idempotency_key": form_key,
        },
    )
    assert r.ok
    page.reload()
    assert page.inner_text("#my-needs").count("41") == 1
    # nothing overflows the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "person-phone")
    ctx.close()
    # the other person states a need too
    p2 = browser.new_page()
    first_login(p2, server.url, "ben", state["ben"])
    p2.select_option("#product", "bread")
    p2.fill("#quantity", "10")
    p2.click("#state-need")
    p2.wait_for_url("**/needs?saved=1")
    assert "41" not in p2.inner_text("#my-needs")  # ben never sees ana's needs
    p2.close()


def test_workplace_reports_capacity(server: ThreadServer, browser: Any) -> None:
    page = browser.new_page()
    first_login(page, server.url, "mill", state["mill"])
    assert page.url.endswith("/workplace")
    page.select_option("#technique", "farm")
    page.fill("#actual-output", "95")
    page.click("#report")
    page.wait_for_url("**/workplace?saved=1")
    assert "95" in page.inner_text("#my-reports")
    shot(page, "workplace")
    page.close()


def run_plan(page: Any) -> None:
    page.click("#run-plan")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("#plan-link", timeout=60000)  # the page refreshes until done
    assert page.inner_text("#job-status") == "done"
    page.click("#plan-link")
    page.wait_for_url("**/plans/*")


def test_council_sets_targets_and_runs_plans(server: ThreadServer, browser: Any) -> None:
    page = browser.new_page()
    first_login(page, server.url, "cora", state["cora"])
    assert page.url.endswith("/council")
    summary = page.inner_text("#needs-summary")
    assert "bread" in summary and "51" in summary  # ana 41 + ben 10, aggregated
    assert "ana" not in page.content()
    page.select_option("#rule", "sum")
    page.fill("input[name=floor_3]", "5")  # 4th product (care): floor 5
    page.click("#set-targets")
    page.wait_for_url("**/council")
    assert "151" in page.inner_text("#targets")  # bread: 100 in the bundle + 51 stated
    run_plan(page)
    assert page.inner_text("#plan-status") == "optimal"
    assert page.locator("#fulfilment-chart .bar-row").count() >= 2
    shot(page, "council-plan")
    # the workplace cuts the plant's capacity; the next plan is lower, and the diff says so
    mill = browser.new_page()
    mill.goto(f"{server.url}/login")
    mill.fill("#username", "mill")
    mill.fill("#password", NEW_PASSWORD)
    mill.click("#login")
    mill.select_option("#technique", "plant")
    mill.fill("#capacity", "20")
    mill.click("#report")
    mill.wait_for_url("**/workplace?saved=1")
    page.goto(f"{server.url}/council")
    run_plan(page)
    page.goto(f"{server.url}/plans")
    page.click("#diff")
    page.wait_for_url("**/plans/diff*")
    assert "plant" in page.inner_text("#diff-activities")
    assert "Inputs changed" in page.content()
    shot(page, "council-diff")
    # the workplace sees how its report moved the plan
    mill.goto(f"{server.url}/workplace")
    assert "plant" in mill.inner_text("#impact")
    shot(mill, "workplace-impact")
    mill.close()
    page.close()


def test_person_sees_how_their_needs_moved_the_plan(server: ThreadServer, browser: Any) -> None:
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    page.goto(f"{server.url}/login")
    page.fill("#username", "ana")
    page.fill("#password", NEW_PASSWORD)
    page.click("#login")
    page.wait_for_url("**/needs")
    impact = page.inner_text("#impact")
    assert "bread" in impact and "care" in impact
    shot(page, "person-impact")
    ctx.close()


def test_public_sees_the_plan_and_report(server: ThreadServer, browser: Any) -> None:
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    page.goto(server.url)
    assert "Latest plan: version 2" in page.inner_text("main")
    page.click("text=Details, valuations and report")
    page.wait_for_url("**/plans/*")
    assert len(page.inner_text(".hash")) == 64
    shot(page, "public-plan-phone")
    page.click("#report-link")
    page.wait_for_load_state()
    assert page.title()
    shot(page, "public-report")
    # anonymous users are sent to the login page from role pages
    page.goto(f"{server.url}/council")
    assert "/login" in page.url
    ctx.close()
