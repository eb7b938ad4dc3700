"""Shared helpers of the service tests: a tiny economy, app/server start-up, logins."""

from __future__ import annotations

import io
import socket
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TINY = {
    "economy.toml": 'name = "Tiny test economy"\nperiod = "test"\n',
    "products.csv": "id,name,unit\ngrain,Grain,t\nbread,Bread,t\nenergy,Energy,MWh\ncare,Care,h\n",
    "techniques.csv": "id,product,output,capacity\nfarm,grain,1,\nbakery,bread,1,\n"
    "plant,energy,1,500\ncare_home,care,1,\n",
    "inputs.csv": "technique,product,amount\nbakery,grain,0.5\nbakery,energy,0.1\n"
    "farm,energy,0.05\ncare_home,energy,0.01\n",
    "resources.csv": "id,name,unit,available\nlabour,Labour,h,1000\n",
    "resource_use.csv": "technique,resource,amount\nfarm,labour,1\nbakery,labour,1\n"
    "plant,labour,0.5\ncare_home,labour,1\n",
    "needs.csv": "product,target,priority,floor\nbread,100,1,10\ncare,200,1,0\n",
}

PASSWORD = "correct horse battery"


def write_bundle(folder: Path, files: dict[str, str] = TINY) -> Path:
    """Write bundle files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def bundle_zip(files: dict[str, str] = TINY) -> bytes:
    """The bundle as a zip (what the admin uploads)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"tiny/{name}", text)
    return buf.getvalue()


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Accounts:
    """Logged-in bearer headers per role and the user names."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)


def login(client: Any, username: str, password: str) -> dict[str, str]:
    """Log in through the API; returns the Authorization header."""
    r = client.post("/api/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def first_login(client: Any, username: str, one_time: str) -> dict[str, str]:
    """Log in with a one-time password and set PASSWORD; returns the header."""
    h = login(client, username, one_time)
    r = client.post(
        "/api/account/password",
        json={"old_password": one_time, "new_password": PASSWORD},
        headers=h,
    )
    assert r.status_code == 204, r.text
    return h


def setup_accounts(client: Any, admin_password: str, extra_people: int = 1) -> Accounts:
    """Admin (password changed), a council, a workplace (farm, plant) and people."""
    acc = Accounts()
    acc.headers["admin"] = first_login(client, "admin", admin_password)
    specs = [("council1", "council", []), ("works1", "workplace", ["farm", "plant"])]
    specs += [(f"person{i}", "person", []) for i in range(1, extra_people + 1)]
    for username, role, techs in specs:
        r = client.post(
            "/api/users",
            json={
                "username": username,
                "role": role,
                "display_name": f"Name-of-{username}",
                "techniques": techs,
            },
            headers=acc.headers["admin"],
        )
        assert r.status_code == 201, r.text
        acc.ids[username] = r.json()["id"]
        h = first_login(client, username, r.json()["one_time_password"])
        key = role if role != "person" or username == "person1" else username
        acc.headers[key] = h
        acc.headers[username] = h
    return acc


def wait_job(client: Any, job_id: int, timeout: float = 60) -> dict[str, Any]:
    """Poll a job until it is done or failed."""
    end = time.time() + timeout
    while time.time() < end:
        j = client.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {j}")


class ThreadServer:
    """Run the app under uvicorn in a thread (real HTTP, real concurrency)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            # keep-alive longer than uvicorn's 5 s: under load a pooled connection idle past
            # it was closed by the server just as a client reused it ("connection reset", the
            # parallel-submission test, once in three runs beside two other jobs)
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                           timeout_keep_alive=120)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        end = time.time() + 30
        while not self.server.started:
            if time.time() > end or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kw: Any) -> Any:
        import httpx

        return httpx.Client(base_url=self.url, timeout=60, **kw)


class Started:
    """A started app (TestClient) and the admin's one-time password printed at start."""

    def __init__(self, db_url: str, bundle: Path | None) -> None:
        from fastapi.testclient import TestClient

        from econplan.service.app import Settings, create_app

        self.printed: list[str] = []
        self.app = create_app(Settings(db_url=db_url, bundle=bundle, announce=self.printed.append))
        self.client = TestClient(self.app)
        self.client.__enter__()

    @property
    def admin_password(self) -> str:
        assert len(self.printed) == 1, self.printed
        return self.printed[0].split("one-time password: ")[1].split()[0]

    def close(self) -> None:
        self.client.__exit__(None, None, None)
