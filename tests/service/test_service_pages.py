"""Server-rendered pages: CSRF on every form, clear 4xx pages for bad input, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from svc_helpers import PASSWORD, Started, setup_accounts


def page_client(started: Started, username: str) -> tuple[TestClient, str]:
    """A browser-like client logged in through the login form; returns it and its CSRF."""
    tc = TestClient(started.app, follow_redirects=False)
    tok = tc.get("/login").cookies["econplan_login_csrf"]
    r = tc.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": tok})
    assert r.status_code == 303, r.text
    r = tc.post("/api/session", json={"username": username, "password": PASSWORD})
    # the page's CSRF token is the one in its forms
    html = tc.get("/").text
    csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    return tc, csrf


def test_login_form_needs_a_signed_token(started: Started) -> None:
    setup_accounts(started.client, started.admin_password)
    tc = TestClient(started.app, follow_redirects=False)
    tc.cookies.set("econplan_login_csrf", "forged")
    r = tc.post(
        "/login", data={"username": "person1", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403 and "CSRF" in r.text
    tok = TestClient(started.app).get("/login").cookies["econplan_login_csrf"]
    r = tc.post("/login", data={"username": "person1", "password": PASSWORD, "csrf_token": tok})
    assert r.status_code == 403  # a real token, but not this browser's cookie
    tc.cookies.set("econplan_login_csrf", tok)
    r = tc.post("/login", data={"username": "person1", "password": PASSWORD, "csrf_token": tok})
    assert r.status_code == 303 and r.headers["location"] == "/needs"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=lax" in r.headers["set-cookie"].lower()


def test_forms_refuse_a_wrong_csrf_token(started: Started) -> None:
    setup_accounts(started.client, started.admin_password)
    tc, csrf = page_client(started, "person1")
    form = {"product": "bread", "quantity": "3", "idempotency_key": "f1"}
    r = tc.post("/needs", data={**form, "csrf_token": "wrong"})
    assert r.status_code == 403
    r = tc.post("/needs", data={**form, "csrf_token": csrf})
    assert r.status_code == 303
    council, ccsrf = page_client(started, "council1")
    assert council.post("/council/plan", data={"csrf_token": "x"}).status_code == 403
    assert council.post("/council/targets", data={"csrf_token": "x"}).status_code == 403
    r = council.post("/council/targets", data={"csrf_token": ccsrf, "rule": "sum"})
    assert r.status_code == 303


def test_bad_page_input_gets_a_clear_4xx(started: Started) -> None:
    setup_accounts(started.client, started.admin_password)
    tc, csrf = page_client(started, "person1")
    r = tc.post(
        "/needs",
        data={"product": "bread", "quantity": "lots", "csrf_token": csrf, "idempotency_key": "k"},
    )
    assert r.status_code == 400 and "quantity" in r.text
    r = tc.post(
        "/needs",
        data={
            "product": "unobtainium",
            "quantity": "1",
            "csrf_token": csrf,
            "idempotency_key": "k2",
        },
    )
    assert r.status_code == 400 and "unobtainium" in r.text
    council, ccsrf = page_client(started, "council1")
    r = council.post(
        "/council/targets",
        data={"csrf_token": ccsrf, "rule": "sum", "product_0": "bread", "floor_0": "abc"},
    )
    assert r.status_code == 400 and "floor" in r.text
    r = council.post("/council/targets", data={"csrf_token": ccsrf, "rule": "nonsense"})
    assert r.status_code == 400
    # the API's bounds hold for the forms too (session 26: 1e13 and 1e301 were stored)
    r = council.post(
        "/council/targets",
        data={"csrf_token": ccsrf, "rule": "sum", "product_0": "bread", "priority_0": "1e13"},
    )
    assert r.status_code == 400 and "priority" in r.text
    works, wcsrf = page_client(started, "works1")
    r = works.post("/workplace/report", data={"csrf_token": wcsrf, "technique": "farm",
                                              "capacity": "1e301", "idempotency_key": "w1"})
    assert r.status_code == 400 and "capacity" in r.text
    r = works.post("/workplace/report", data={"csrf_token": wcsrf, "technique": "farm",
                                              "capacity": "12", "idempotency_key": "w2"})
    assert r.status_code == 303
    anon = TestClient(started.app, follow_redirects=False)
    for path in ("/plans/999999", "/jobs/999999", "/plans/diff?a=1&b=2", "/nowhere"):
        assert anon.get(path).status_code == 404, path
    assert anon.get("/plans/0").status_code == 400
    assert anon.get("/plans/diff?a=x&b=1").status_code == 400
    r = anon.get("/council")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    person_on_council = tc.get("/council")
    assert person_on_council.status_code == 403


def test_pages_render_for_every_role(started: Started) -> None:
    setup_accounts(started.client, started.admin_password)
    for username, path, marker in [
        ("admin", "/admin", "New account"),
        ("person1", "/needs", "State need"),
        ("council1", "/council", "Run the plan"),
        ("works1", "/workplace", "farm"),
    ]:
        tc, _ = page_client(started, username)
        r = tc.get(path)
        assert r.status_code == 200 and marker in r.text, path
        assert 'name="viewport"' in r.text
    anon = TestClient(started.app)
    for path in ("/", "/plans", "/login", "/docs", "/openapi.json"):
        assert anon.get(path).status_code == 200, path
