"""reference_ui without a browser: which paths it serves, with which headers, and that
``mount`` leaves every API request to the wrapped app."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import reference_ui
from reference_ui.asgi import ASGIApp


def _call(app: ASGIApp, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"", "headers": []}
    async def call() -> None:
        await app(scope, receive, send)

    asyncio.run(call())
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_paths() -> None:
    app = reference_ui.asgi_app()
    for path in ("/", "/ui", "/ui/", "/ui/index.html"):
        status, headers, body = _call(app, "GET", path)
        assert status == 200, path
        assert headers["content-type"].startswith("text/html")
        assert b'<script type="module" src="/ui/app.js">' in body
    status, headers, body = _call(app, "GET", "/ui/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert "default-src 'self'" in headers["content-security-policy"]
    assert _call(app, "GET", "/ui/style.css")[1]["content-type"].startswith("text/css")
    for bad in ("/ui/../__init__.py", "/ui/__init__.py", "/ui/x/app.js", "/invocations", "/ui/nope.js"):
        assert _call(app, "GET", bad)[0] == 404, bad
    assert _call(app, "POST", "/")[0] == 405
    status, _, body = _call(app, "HEAD", "/ui/app.js")
    assert status == 200 and body == b""


def test_every_module_is_shipped() -> None:
    names = set(reference_ui.asset_names())
    assert {"index.html", "app.js", "style.css"} <= names
    imported: set[str] = set()
    for name in names:
        if name.endswith(".js"):
            asset = reference_ui.resolve(f"/ui/{name}")
            assert asset is not None
            imported |= {m.split("/")[-1] for m in _imports(asset.body.decode())}
    assert imported <= names, imported - names


def _imports(source: str) -> list[str]:
    import re

    return re.findall(r'from "\./([^"]+)"', source)


def test_mount_delegates_everything_else() -> None:
    calls: list[tuple[str, str]] = []

    async def api(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        calls.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = reference_ui.mount(api)
    assert _call(app, "GET", "/")[0] == 200
    assert _call(app, "GET", "/ui/app.js")[0] == 200
    assert _call(app, "GET", "/invocations")[0] == 204
    assert _call(app, "PATCH", "/invocations/inv_1/cancel")[0] == 204
    assert _call(app, "POST", "/")[0] == 204  # non-GET goes to the API, whatever the path
    assert calls == [("GET", "/invocations"), ("PATCH", "/invocations/inv_1/cancel"), ("POST", "/")]
    # resolve() is what an app with its own request type uses
    asset = reference_ui.resolve("/")
    assert asset is not None and asset.status == 200 and asset.headers["content-type"].startswith("text/html")
    assert reference_ui.resolve("/deployments") is None
