"""The open-data export holds the economy and plans, and no personal data."""

from __future__ import annotations

import io
import json
import zipfile

from svc_helpers import PASSWORD, Started, setup_accounts, wait_job

from econplan.service.models import IdempotencyKey, SessionRow, User


def test_export_has_plans_and_no_personal_data(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password, extra_people=4)
    # distinctive personal values: names, quantities only one person stated, keys
    for i in range(1, 5):
        r = c.post(
            "/api/periods/1/needs",
            json={"product": "bread", "quantity": 1000 + i + 0.125},
            headers={**acc.headers[f"person{i}"], "Idempotency-Key": f"secret-key-{i}"},
        )
        assert r.status_code == 201
    c.post(
        "/api/periods/1/needs",
        json={"product": "care", "quantity": 777.375},
        headers=acc.headers["person1"],
    )  # stated by one person only
    c.post(
        "/api/periods/1/reports",
        json={"technique": "farm", "actual_output": 31.0625},
        headers=acc.headers["workplace"],
    )
    hc = acc.headers["council"]
    assert c.put("/api/periods/1/targets", json={"rule": "stated"}, headers=hc).status_code == 200
    job = wait_job(c, c.post("/api/periods/1/plans", json={}, headers=hc).json()["id"])
    assert job["status"] == "done"

    r = c.get("/api/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    names = zf.namelist()
    text = "\n".join(zf.read(n).decode("utf-8") for n in names)

    # what it holds: economy, targets, aggregated needs (>= 3 people), every plan version
    assert "period-1/economy/products.csv" in names
    assert "period-1/plans/1/summary.json" in names and "period-1/plans/1/products.csv" in names
    index = json.loads(zf.read("index.json"))
    assert (
        index["periods"][0]["plans"][0]["inputs_sha256"]
        == json.loads(zf.read("period-1/plans/1/summary.json"))["inputs_sha256"]
    )
    stated = zf.read("period-1/stated_needs.csv").decode()
    assert "bread,4," in stated  # four people: published as an aggregate
    assert "care" not in stated  # one person: suppressed

    # what it must not hold
    with started.app.state.econplan.db.read() as s:
        users = [(u.username, u.display_name, u.password_hash) for u in s.query(User)]
        tokens = [row.token_sha256 for row in s.query(SessionRow)]
        keys = [row.key for row in s.query(IdempotencyKey)]
    forbidden = [x for u in users for x in u if x] + tokens + keys + [PASSWORD]
    forbidden += [str(1000 + i + 0.125) for i in range(1, 5)]  # individual quantities
    # a workplace's actual-output report is its own record, not plan input: not exported.
    # (A target is public plan input: where one person alone stated a product, the target
    # equals their quantity, but nothing in the export links it to them.)
    forbidden += ["31.0625"]
    for value in forbidden:
        assert value not in text, f"export leaks {value!r}"
    for column in ("user_id", "username", "display_name", "password", "created_by", "session"):
        assert column not in text, f"export has a {column!r} field"
