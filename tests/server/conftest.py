from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reference_server import ServerThread

from .fakesdk import AppThread, FakeSdk, build_app


@dataclass
class Stack:
    server: ServerThread
    sdk: FakeSdk
    sdk_url: str
    ingress: httpx.Client
    admin: httpx.Client
    data_dir: Path


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of these tests goes to 127.0.0.1 directly, whatever the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    sdk = build_app(tmp_path / "ledger.txt")
    with AppThread(sdk) as app, ServerThread(data_dir=tmp_path / "data") as srv:
        ingress = httpx.Client(base_url=srv.ingress_url, timeout=20)
        admin = httpx.Client(base_url=srv.admin_url, timeout=20)
        r = admin.post("/deployments", json={"uri": app.url})
        assert r.status_code == 201, r.text
        yield Stack(srv, sdk, app.url, ingress, admin, tmp_path / "data")
        ingress.close()
        admin.close()
