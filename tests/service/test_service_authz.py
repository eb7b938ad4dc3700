"""Authorization matrix: every route × every role (and anonymous) gets what the spec says.

The spec below is written out by hand, independently of the code's role checks; a route the
app has and the spec lacks (or the reverse) fails the test, so new routes must be specified.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from svc_helpers import PASSWORD, Started, bundle_zip, login, setup_accounts, wait_job

ROLES = ("admin", "person", "council", "workplace")
ANY = set(ROLES)  # any logged-in role
PUBLIC = "public"

# (method, path) -> who may call it: PUBLIC, or the set of roles
SPEC: dict[tuple[str, str], Any] = {
    # JSON API
    ("POST", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): ANY,
    ("GET", "/api/me"): ANY,
    ("POST", "/api/account/password"): ANY,
    ("GET", "/api/users"): {"admin"},
    ("POST", "/api/users"): {"admin"},
    ("POST", "/api/users/{user_id}/active"): {"admin"},
    ("POST", "/api/users/{user_id}/password"): {"admin"},
    ("GET", "/api/audit"): {"admin"},
    ("GET", "/api/periods"): PUBLIC,
    ("POST", "/api/periods"): {"admin"},
    ("GET", "/api/periods/{period_id}"): PUBLIC,
    ("POST", "/api/periods/{period_id}/needs"): {"person"},
    ("GET", "/api/periods/{period_id}/needs/mine"): {"person"},
    ("GET", "/api/periods/{period_id}/needs/summary"): {"council", "admin"},
    ("GET", "/api/periods/{period_id}/targets"): PUBLIC,
    ("PUT", "/api/periods/{period_id}/targets"): {"council"},
    ("POST", "/api/periods/{period_id}/plans"): {"council"},
    ("GET", "/api/jobs/{job_id}"): PUBLIC,
    ("GET", "/api/periods/{period_id}/plans"): PUBLIC,
    ("GET", "/api/plans/{plan_id}"): PUBLIC,
    ("GET", "/api/plans/{plan_a}/diff/{plan_b}"): PUBLIC,
    ("GET", "/api/periods/{period_id}/impact"): {"person", "workplace"},
    ("POST", "/api/periods/{period_id}/reports"): {"workplace"},
    ("GET", "/api/periods/{period_id}/reports/mine"): {"workplace"},
    ("GET", "/api/export"): PUBLIC,
    # pages
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/account/password"): ANY,
    ("POST", "/account/password"): ANY,
    ("GET", "/admin"): {"admin"},
    ("POST", "/admin/users"): {"admin"},
    ("POST", "/admin/users/{user_id}/active"): {"admin"},
    ("POST", "/admin/users/{user_id}/password"): {"admin"},
    ("POST", "/admin/periods"): {"admin"},
    ("GET", "/needs"): {"person"},
    ("POST", "/needs"): {"person"},
    ("GET", "/council"): {"council"},
    ("POST", "/council/targets"): {"council"},
    ("POST", "/council/plan"): {"council"},
    ("GET", "/workplace"): {"workplace"},
    ("POST", "/workplace/report"): {"workplace"},
    ("GET", "/jobs/{job_id}"): PUBLIC,
    ("GET", "/plans"): PUBLIC,
    ("GET", "/plans/diff"): PUBLIC,
    ("GET", "/plans/{plan_id}"): PUBLIC,
    ("GET", "/plans/{plan_id}/report"): PUBLIC,
    # framework
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
}

SECRET_QTY = 123457.25  # person1's need: must reach nobody else, in any response


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves (HEAD aside)."""
    from econplan.service import api, pages

    out = set()
    routes = list(api.router.routes) + list(pages.router.routes)
    routes += [r for r in app.routes if hasattr(r, "methods") and hasattr(r, "path")]
    for r in routes:
        for m in r.methods or ():
            if m != "HEAD":
                out.add((m, r.path))
    return out


def request_for(method: str, path: str, ids: dict[str, Any], csrf: str) -> dict[str, Any]:
    """A well-formed request for the route, so that only authorization can refuse it."""
    url = path.format(
        period_id=1,
        user_id=ids["spare"],
        job_id=ids["job"],
        plan_id=ids["plan"],
        plan_a=ids["plan"],
        plan_b=ids["plan"],
    )
    kw: dict[str, Any] = {"method": method, "url": url}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/session"): {"json": {"username": "person1", "password": PASSWORD}},
        ("POST", "/api/account/password"): {
            "json": {"old_password": "wrong password", "new_password": "whatever123"}
        },
        ("POST", "/api/users"): {"json": {"username": f"u{ids['n']}", "role": "person"}},
        ("POST", "/api/users/{user_id}/active"): {"json": {"active": True}},
        ("POST", "/api/periods"): {
            "data": {"name": "p"},
            "files": {"bundle": ("b.zip", bundle_zip())},
        },
        ("POST", "/api/periods/{period_id}/needs"): {"json": {"product": "care", "quantity": 1}},
        ("PUT", "/api/periods/{period_id}/targets"): {"json": {"rule": "sum"}},
        ("POST", "/api/periods/{period_id}/plans"): {"json": {}},
        ("POST", "/api/periods/{period_id}/reports"): {
            "json": {"technique": "farm", "actual_output": 1}
        },
        ("GET", "/plans/diff"): {"params": {"a": ids["plan"], "b": ids["plan"]}},
        ("POST", "/account/password"): {
            "data": {"old_password": "wrong password", "new_password": "whatever123"}
        },
        ("POST", "/admin/users"): {"data": {"username": f"v{ids['n']}", "role": "person"}},
        ("POST", "/admin/users/{user_id}/active"): {"data": {"active": "true"}},
        ("POST", "/admin/periods"): {
            "data": {"name": "p"},
            "files": {"bundle": ("b.zip", bundle_zip())},
        },
        ("POST", "/needs"): {
            "data": {"product": "care", "quantity": "1", "idempotency_key": f"k{ids['n']}"}
        },
        ("POST", "/council/targets"): {"data": {"rule": "sum"}},
        ("POST", "/council/plan"): {"data": {"objective": "fulfilment"}},
        ("POST", "/workplace/report"): {
            "data": {"technique": "farm", "capacity": "100", "idempotency_key": f"k{ids['n']}"}
        },
    }
    extra = bodies.get((method, path), {})
    if not path.startswith("/api/") and method == "POST" and path != "/login":
        extra = {**extra, "data": {**extra.get("data", {}), "csrf_token": csrf}}
    kw.update(extra)
    return kw


def test_authorization_matrix(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password, extra_people=2)
    # a plan version, a job and a spare account to act on
    h1, h2 = acc.headers["person1"], acc.headers["person2"]
    assert (
        c.post(
            "/api/periods/1/needs", json={"product": "care", "quantity": SECRET_QTY}, headers=h1
        ).status_code
        == 201
    )
    assert (
        c.post(
            "/api/periods/1/needs", json={"product": "care", "quantity": 1.5}, headers=h2
        ).status_code
        == 201
    )
    job = wait_job(
        c, c.post("/api/periods/1/plans", json={}, headers=acc.headers["council"]).json()["id"]
    )
    spare = c.post(
        "/api/users", json={"username": "spare", "role": "person"}, headers=acc.headers["admin"]
    ).json()["id"]
    ids: dict[str, Any] = {"job": job["id"], "plan": job["plan_id"], "spare": spare, "n": 0}

    assert app_routes(started.app) == set(SPEC), (
        "routes and spec differ: "
        f"unspecified {sorted(app_routes(started.app) - set(SPEC))}, "
        f"missing {sorted(set(SPEC) - app_routes(started.app))}"
    )

    # one client per caller; API calls use bearer tokens, pages use the session cookie
    callers: dict[str | None, tuple[TestClient, dict[str, str], str]] = {}
    for role in (None, *ROLES):
        tc = TestClient(started.app, follow_redirects=False)
        headers: dict[str, str] = {}
        csrf = ""
        if role is not None:
            user = {"person": "person2"}.get(
                role, {"council": "council1", "workplace": "works1"}.get(role, role)
            )
            r = c.post("/api/session", json={"username": user, "password": PASSWORD})
            token, csrf = r.json()["token"], r.json()["csrf_token"]
            tc.cookies.set("econplan_session", token)
            headers = {"Authorization": f"Bearer {token}"}
        callers[role] = (tc, headers, csrf)

    failures = []
    for (method, path), allowed in sorted(SPEC.items()):
        for role, (tc, headers, csrf) in callers.items():
            ids["n"] += 1
            kw = request_for(method, path, ids, csrf)
            if path.startswith("/api/"):
                kw["headers"] = headers
            if (method, path) in (("DELETE", "/api/session"), ("POST", "/logout")) and role:
                # logging out ends the session: use a throw-away one
                user = {"person": "person2", "council": "council1", "workplace": "works1"}.get(
                    role, role
                )
                r = c.post("/api/session", json={"username": user, "password": PASSWORD})
                tok = r.json()["token"]
                kw["headers"] = {"Authorization": f"Bearer {tok}"}
                if path == "/logout":
                    kw.pop("headers")
                    tc2 = TestClient(started.app, follow_redirects=False)
                    tc2.cookies.set("econplan_session", tok)
                    kw["data"] = {"csrf_token": r.json()["csrf_token"]}
                    resp = tc2.request(**kw)
                else:
                    resp = tc.request(**kw)
            elif (method, path) == ("POST", "/login"):
                fresh = TestClient(started.app, follow_redirects=False)
                tok = fresh.get("/login").cookies["econplan_login_csrf"]
                kw["data"] = {"username": "person1", "password": PASSWORD, "csrf_token": tok}
                resp = fresh.request(**kw)
            else:
                resp = tc.request(**kw)
            may = allowed == PUBLIC or (role is not None and role in allowed)
            code = resp.status_code
            login_redirect = code == 303 and resp.headers["location"].startswith("/login")
            if may:
                ok = code not in (401, 403) and not login_redirect and code < 500
            elif role is None:
                ok = code == 401 if path.startswith("/api/") else login_redirect
            else:
                ok = code == 403
            if not ok:
                failures.append(
                    f"{method} {path} as {role or 'anonymous'}: {code} {resp.text[:120]}"
                )
            # nobody but person1 ever sees person1's need
            assert str(SECRET_QTY) not in resp.text, f"{method} {path} as {role} leaks a need"
    assert not failures, "\n".join(failures)

    # person1 sees it, through the API and the page
    assert str(SECRET_QTY) in c.get("/api/periods/1/needs/mine", headers=h1).text


@pytest.mark.parametrize("path", ["/api/periods/1/needs/mine", "/api/periods/1/impact"])
def test_a_person_sees_only_their_own_needs(started: Started, path: str) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password, extra_people=2)
    c.post(
        "/api/periods/1/needs",
        json={"product": "bread", "quantity": 11},
        headers=acc.headers["person1"],
    )
    c.post(
        "/api/periods/1/needs",
        json={"product": "care", "quantity": 22},
        headers=acc.headers["person2"],
    )
    wait_job(
        c, c.post("/api/periods/1/plans", json={}, headers=acc.headers["council"]).json()["id"]
    )
    mine = c.get(path, headers=acc.headers["person2"]).json()
    rows = mine if isinstance(mine, list) else mine["needs"]
    assert [r["product"] for r in rows] == ["care"]
    assert login(c, "person1", PASSWORD)
