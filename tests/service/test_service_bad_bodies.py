"""Bodies the JSON parser reads but JSON cannot write back (NaN, Infinity, 1e309, a lone
surrogate) and zips that open but cannot be read: each was a 500 (an outside check, session
26); each must be a 4xx with a clear message, and nothing stored."""

from __future__ import annotations

import io
import zipfile

import pytest
from svc_helpers import Started, bundle_zip, setup_accounts

BAD_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e309"]


def _post(c, path: str, body: bytes, headers: dict, method: str = "POST"):
    return c.request(method, path, content=body,
                     headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("number", BAD_NUMBERS)
def test_non_finite_numbers_are_422_not_500(started: Started, number: bytes) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    pid = c.get("/api/periods").json()[0]["id"]
    for path, body, who, method in [
        (f"/api/periods/{pid}/needs", b'{"product":"bread","quantity":%s}' % number,
         "person", "POST"),
        (f"/api/periods/{pid}/targets",
         b'{"overrides":[{"product":"bread","priority":%s}]}' % number, "council", "PUT"),
        (f"/api/periods/{pid}/reports", b'{"technique":"plant","capacity":%s}' % number,
         "workplace", "POST"),
    ]:
        r = _post(c, path, body, acc.headers[who], method)
        assert r.status_code == 422, (path, number, r.status_code, r.text)
        detail = r.json()["detail"]
        assert detail and all({"loc", "msg", "type"} <= set(e) for e in detail)
        assert number.decode().lower() not in r.text.lower()  # the input is not echoed
    assert c.get(f"/api/periods/{pid}/needs/mine", headers=acc.headers["person"]).json() == []


def test_a_lone_surrogate_is_422_not_500(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    pid = c.get("/api/periods").json()[0]["id"]
    for body in (b'{"product":"\\ud800","quantity":1}', b'{"\\ud800":1,"quantity":1}'):
        r = _post(c, f"/api/periods/{pid}/needs", body, acc.headers["person"])
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        r.json()  # a JSON body


def _damaged(how: str) -> bytes:
    """The tiny bundle's zip (stored, not compressed) with one entry damaged."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle_zip())) as src, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("products.csv"))
    if how == "crc":  # one byte of the stored file changed
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data[start] ^= 0xFF
    elif how == "method":  # an unknown compression method in the local header and directory
        data[info.header_offset + 8] = 99
        at = bytes(data).find(info.filename.encode(), data.find(b"PK\x01\x02"))
        data[at - 46 + 10] = 99
    elif how == "encrypted":  # the 'encrypted' flag set
        at = bytes(data).find(info.filename.encode(), data.find(b"PK\x01\x02"))
        data[at - 46 + 8] |= 1
        data[info.header_offset + 6] |= 1
    return bytes(data)


@pytest.mark.parametrize("how", ["crc", "method", "encrypted"])
def test_an_unreadable_zip_entry_is_400_not_500(started: Started, how: str) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    before = len(c.get("/api/periods").json())
    r = c.post("/api/periods", data={"name": f"damaged {how}"},
               files={"bundle": ("b.zip", _damaged(how), "application/zip")},
               headers=acc.headers["admin"])
    assert r.status_code == 400, (how, r.status_code, r.text)
    assert "products.csv" in r.json()["detail"] and "/tmp" not in r.json()["detail"]
    assert len(c.get("/api/periods").json()) == before


def test_bundle_errors_name_the_file_not_the_server_folder(started: Started) -> None:
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    from svc_helpers import TINY

    bad = dict(TINY, **{"inputs.csv": "technique,product,amount\nbakery,nothing,1\n"})
    r = c.post("/api/periods", data={"name": "bad"},
               files={"bundle": ("b.zip", bundle_zip(bad), "application/zip")},
               headers=acc.headers["admin"])
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("bad bundle: inputs.csv, line 2"), detail


def test_times_read_back_keep_their_utc_offset(started: Started) -> None:
    """A need's created_at is the same string when posted and when read back (SQLite gives
    stored times back without their offset: an outside check, session 26)."""
    c = started.client
    acc = setup_accounts(c, started.admin_password)
    pid = c.get("/api/periods").json()[0]["id"]
    r = c.post(f"/api/periods/{pid}/needs", json={"product": "bread", "quantity": 3},
               headers=acc.headers["person"])
    assert r.status_code == 201, r.text
    posted = r.json()["created_at"]
    mine = c.get(f"/api/periods/{pid}/needs/mine", headers=acc.headers["person"]).json()
    assert posted.endswith("+00:00") and mine[0]["created_at"] == posted
