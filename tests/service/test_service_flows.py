"""End-to-end flows through the JSON API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from svc_helpers import PASSWORD, TINY, Started, bundle_zip, login, setup_accounts, wait_job

from econplan.service.models import AuditEntry, Need, PlanVersion, Report


def test_fresh_start_prints_admin_password_once(started: Started, db_url: str) -> None:
    pw = started.admin_password
    # the one-time password works, but only to change it
    h = login(started.client, "admin", pw)
    r = started.client.get("/api/users", headers=h)
    assert r.status_code == 403 and "one-time password" in r.json()["detail"]
    short = started.client.post(
        "/api/account/password", json={"old_password": pw, "new_password": "short"}, headers=h
    )
    assert short.status_code == 400
    r = started.client.post(
        "/api/account/password", json={"old_password": pw, "new_password": PASSWORD}, headers=h
    )
    assert r.status_code == 204
    assert started.client.get("/api/users", headers=h).status_code == 200
    assert (
        started.client.post("/api/session", json={"username": "admin", "password": pw}).status_code
        == 401
    )
    started.close()
    # a second start on the same store prints nothing and keeps the secret
    again = Started(db_url, None)
    try:
        assert again.printed == []
        assert login(again.client, "admin", PASSWORD)
    finally:
        again.close()


def test_password_is_hashed_with_argon2(started: Started) -> None:
    from econplan.service.models import User

    with started.app.state.econplan.db.read() as s:
        u = s.query(User).filter_by(username="admin").one()
        assert u.password_hash.startswith("$argon2id$")
        assert started.admin_password not in u.password_hash


def test_roles_main_flows(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password, extra_people=2)
    period = c.get("/api/periods").json()[0]
    pid = period["id"]
    detail = c.get(f"/api/periods/{pid}").json()
    assert {p["id"] for p in detail["products"]} == {"grain", "bread", "energy", "care"}

    # admin loads a second bundle as a new period (zip upload) and a bad one is refused
    r = c.post(
        "/api/periods",
        data={"name": "next period"},
        files={"bundle": ("b.zip", bundle_zip(), "application/zip")},
        headers=acc.headers["admin"],
    )
    assert r.status_code == 201, r.text
    bad = dict(TINY, **{"inputs.csv": "technique,product,amount\nbakery,nothing,1\n"})
    r = c.post(
        "/api/periods",
        data={"name": "bad"},
        files={"bundle": ("b.zip", bundle_zip(bad), "application/zip")},
        headers=acc.headers["admin"],
    )
    assert r.status_code == 400 and "inputs.csv" in r.json()["detail"]
    r = c.post(
        "/api/periods",
        data={"name": "x"},
        files={"bundle": ("b.zip", b"not a zip")},
        headers=acc.headers["admin"],
    )
    assert r.status_code == 400

    # people state needs; each sees only their own
    h1, h2 = acc.headers["person1"], acc.headers["person2"]
    assert (
        c.post(
            f"/api/periods/{pid}/needs", json={"product": "bread", "quantity": 30}, headers=h1
        ).status_code
        == 201
    )
    assert (
        c.post(
            f"/api/periods/{pid}/needs", json={"product": "bread", "quantity": 50}, headers=h1
        ).status_code
        == 201
    )  # replaces 30: the latest counts
    assert (
        c.post(
            f"/api/periods/{pid}/needs", json={"product": "care", "quantity": 20}, headers=h2
        ).status_code
        == 201
    )
    r = c.post(f"/api/periods/{pid}/needs", json={"product": "steel", "quantity": 1}, headers=h1)
    assert r.status_code == 400 and "steel" in r.json()["detail"]
    r = c.post(f"/api/periods/{pid}/needs", json={"product": "bread", "quantity": -1}, headers=h1)
    assert r.status_code == 422
    mine = c.get(f"/api/periods/{pid}/needs/mine", headers=h1).json()
    assert [n["quantity"] for n in mine] == [50, 30]
    assert [n["product"] for n in c.get(f"/api/periods/{pid}/needs/mine", headers=h2).json()] == [
        "care"
    ]

    # council: aggregated needs, targets by the documented rule, overrides, plan run
    hc = acc.headers["council"]
    summary = {
        r["product"]: r for r in c.get(f"/api/periods/{pid}/needs/summary", headers=hc).json()
    }
    assert summary["bread"] == {"product": "bread", "people": 1, "total": 50.0}
    r = c.put(
        f"/api/periods/{pid}/targets",
        json={"rule": "sum", "overrides": [{"product": "care", "priority": 2, "floor": 100}]},
        headers=hc,
    )
    assert r.status_code == 200, r.text
    t = {row["product"]: row for row in r.json()}
    assert t["bread"]["target"] == 150  # bundle 100 + stated 50
    assert t["bread"]["floor"] == 10 and t["care"]["target"] == 220
    assert t["care"]["priority"] == 2 and t["care"]["floor"] == 100
    r = c.put(
        f"/api/periods/{pid}/targets",
        json={"overrides": [{"product": "bread", "floor": 1000}]},
        headers=hc,
    )
    assert r.status_code == 400 and "above its target" in r.json()["detail"]
    assert c.get(f"/api/periods/{pid}/targets").json() == list(t.values())  # unchanged

    job = c.post(f"/api/periods/{pid}/plans", json={}, headers=hc)
    assert job.status_code == 202
    done = wait_job(c, job.json()["id"])
    assert done["status"] == "done", done
    assert done["progress"] == 100
    plan1 = c.get(f"/api/plans/{done['plan_id']}").json()
    assert plan1["number"] == 1 and plan1["status"] == "optimal"
    assert len(plan1["inputs_sha256"]) == 64
    assert plan1["duality_gap"] is not None and abs(plan1["duality_gap"]) < 1e-6
    assert plan1["primal_residual"] is not None and plan1["primal_residual"] < 1e-6
    prods = {r["product"]: r for r in plan1["products"]}
    assert prods["bread"]["target"] == 150

    # workplace reports a lower capacity for its plant; another technique is refused
    hw = acc.headers["workplace"]
    r = c.post(
        f"/api/periods/{pid}/reports",
        json={"technique": "plant", "capacity": 40, "actual_output": 35},
        headers=hw,
    )
    assert r.status_code == 201, r.text
    r = c.post(
        f"/api/periods/{pid}/reports", json={"technique": "bakery", "capacity": 1}, headers=hw
    )
    assert r.status_code == 403
    r = c.post(f"/api/periods/{pid}/reports", json={"technique": "plant"}, headers=hw)
    assert r.status_code == 400
    assert len(c.get(f"/api/periods/{pid}/reports/mine", headers=hw).json()) == 1

    done2 = wait_job(c, c.post(f"/api/periods/{pid}/plans", json={}, headers=hc).json()["id"])
    assert done2["status"] == "done", done2
    plan2 = c.get(f"/api/plans/{done2['plan_id']}").json()
    assert plan2["number"] == 2
    assert plan2["inputs_sha256"] != plan1["inputs_sha256"]
    assert plan2["fulfilment"] < plan1["fulfilment"]  # energy capacity 40 now binds
    acts = {a["technique"]: a for a in plan2["activities"]}
    assert acts["plant"]["capacity"] == 40

    # versions are immutable: version 1 is unchanged, and the diff says what moved
    assert c.get(f"/api/plans/{plan1['id']}").json() == plan1
    d = c.get(f"/api/plans/{plan1['id']}/diff/{plan2['id']}").json()
    assert d["same_inputs"] is False
    assert d["fulfilment_delta"] == pytest.approx(plan2["fulfilment"] - plan1["fulfilment"])
    plant = next(a for a in d["activities"] if a["technique"] == "plant")
    assert plant["changed"] and plant["capacity"]["b"] == 40
    same = c.get(f"/api/plans/{plan2['id']}/diff/{plan2['id']}").json()
    assert not any(r["changed"] for r in same["products"])
    assert c.get(f"/api/plans/{plan1['id']}/diff/999999").status_code == 404

    # how my input moved the plan
    imp = c.get(f"/api/periods/{pid}/impact", headers=h1).json()
    assert imp["plan_now"] == 2 and imp["plan_before"] == 1
    (n,) = imp["needs"]
    assert n["product"] == "bread" and n["quantity"] == 50
    assert n["share_of_target"] == pytest.approx(50 / 150)
    bread = next(r for r in plan2["products"] if r["product"] == "bread")
    bread1 = next(r for r in plan1["products"] if r["product"] == "bread")
    assert n["fulfilment_now"] == pytest.approx(bread["fulfilment"], rel=1e-9)
    assert n["fulfilment_before"] == pytest.approx(bread1["fulfilment"], rel=1e-9)
    assert n["fulfilment_now"] < n["fulfilment_before"]
    assert n["cost"] == pytest.approx(50 * bread["valuation"])
    wimp = c.get(f"/api/periods/{pid}/impact", headers=hw).json()
    plant_imp = next(t for t in wimp["techniques"] if t["technique"] == "plant")
    assert plant_imp["reported_capacity"] == 40
    assert plant_imp["level_now"] == pytest.approx(40, rel=1e-6)
    assert plant_imp["capacity_valuation_now"] > 0  # the capacity binds: more would help

    # every write is in the audit log
    with started.app.state.econplan.db.read() as s:
        audit = s.query(AuditEntry).all()
        counts = {
            (e.entity, e.action): sum(
                1 for a in audit if (a.entity, a.action) == (e.entity, e.action)
            )
            for e in audit
        }
        assert counts[("need", "create")] == s.query(Need).count() == 3
        assert counts[("report", "create")] == s.query(Report).count() == 1
        assert counts[("plan", "create")] == s.query(PlanVersion).count() == 2
        assert counts[("user", "create")] == 5
        assert counts[("period", "create")] == 2
        assert counts[("targets", "set")] == 1  # the refused one left nothing
    lines = c.get("/api/audit?limit=1000", headers=acc.headers["admin"]).json()
    assert len(lines) == len(audit)


def test_infeasible_floor_gives_a_failed_or_infeasible_version(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    pid = c.get("/api/periods").json()[0]["id"]
    hw, hc = acc.headers["workplace"], acc.headers["council"]
    # energy capacity 0 → care (needs energy) cannot meet its floor
    assert (
        c.post(
            f"/api/periods/{pid}/reports", json={"technique": "plant", "capacity": 0}, headers=hw
        ).status_code
        == 201
    )
    assert (
        c.put(
            f"/api/periods/{pid}/targets",
            json={"overrides": [{"product": "care", "floor": 150}]},
            headers=hc,
        ).status_code
        == 200
    )
    done = wait_job(c, c.post(f"/api/periods/{pid}/plans", json={}, headers=hc).json()["id"])
    if done["status"] == "done":
        plan = c.get(f"/api/plans/{done['plan_id']}").json()
        assert plan["status"] == "infeasible"
    else:
        assert done["status"] == "failed" and done["message"]


def test_audit_line_and_write_commit_together(started: Started) -> None:
    """A write that fails after its audit line was added leaves neither."""
    from econplan.service import store

    c = started.client
    acc = setup_accounts(c, started.admin_password)
    db = started.app.state.econplan.db
    with db.read() as s:
        before = s.query(AuditEntry).count()
        user = s.query(store.User).filter_by(username="person1").one()
        s.expunge(user)
    with pytest.raises(RuntimeError):
        with db.write() as s:
            store.add_need(s, user, 1, "bread", 5)
            raise RuntimeError("crash between the write and the commit")
    with db.read() as s:
        assert s.query(AuditEntry).count() == before
        assert s.query(Need).count() == 0
    assert acc  # accounts were set up through the API


def test_sessions_logout_and_deactivate(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    h = acc.headers["person1"]
    assert c.get("/api/me", headers=h).json()["role"] == "person"
    assert c.delete("/api/session", headers=h).status_code == 204
    assert c.get("/api/me", headers=h).status_code == 401
    h = login(c, "person1", PASSWORD)
    r = c.post(
        f"/api/users/{acc.ids['person1']}/active",
        json={"active": False},
        headers=acc.headers["admin"],
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert c.get("/api/me", headers=h).status_code == 401
    assert (
        c.post("/api/session", json={"username": "person1", "password": PASSWORD}).status_code
        == 401
    )
    assert c.get("/api/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    # the admin gives the account a new one-time password: old sessions end, change forced
    h2 = login(c, "council1", PASSWORD)
    r = c.post(f"/api/users/{acc.ids['council1']}/password", headers=acc.headers["admin"])
    assert r.status_code == 200
    assert c.get("/api/me", headers=h2).status_code == 401
    h3 = login(c, "council1", r.json()["one_time_password"])
    assert c.get("/api/periods/1/needs/summary", headers=h3).status_code == 403
    assert c.post("/api/users/999999/password", headers=acc.headers["admin"]).status_code == 404


def test_cookie_session_needs_csrf_header(started: Started) -> None:
    c = started.client
    setup_accounts(c, started.admin_password)
    r = c.post("/api/session", json={"username": "person1", "password": PASSWORD})
    token, csrf = r.json()["token"], r.json()["csrf_token"]
    c.cookies.set("econplan_session", token)
    body = {"product": "bread", "quantity": 1}
    r = c.post("/api/periods/1/needs", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c.post("/api/periods/1/needs", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    c.cookies.clear()


def test_secret_is_generated_and_stored(started: Started) -> None:
    from econplan.service.models import Secret

    with started.app.state.econplan.db.read() as s:
        (secret,) = [row.value for row in s.query(Secret).all()]
        assert len(secret) >= 40
    assert secret not in c_export(started)


def c_export(started: Started) -> str:
    import io
    import zipfile

    data = started.client.get("/api/export").content
    zf = zipfile.ZipFile(io.BytesIO(data))
    return "\n".join(zf.read(n).decode() for n in zf.namelist())


def test_plan_versions_and_audit_lines_cannot_be_changed(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    job = wait_job(
        c, c.post("/api/periods/1/plans", json={}, headers=acc.headers["council"]).json()["id"]
    )
    db = started.app.state.econplan.db
    with pytest.raises(PermissionError):
        with db.write() as s:
            s.get(PlanVersion, job["plan_id"]).fulfilment = 99.0
    with pytest.raises(PermissionError):
        with db.write() as s:
            s.query(AuditEntry).first().action = "forged"
    assert c.get(f"/api/plans/{job['plan_id']}").json()["fulfilment"] != 99.0
