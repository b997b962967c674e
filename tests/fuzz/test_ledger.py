"""The effect ledger numbers executions per step and keeps the first done marker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from fuzz.clock import Clock
from fuzz.ledger import Ledger


def test_ledger_over_http(tmp_path: Path) -> None:
    async def go() -> None:
        ledger = Ledger(Clock(), tmp_path / "ledger.jsonl")
        seen: list[str] = []
        ledger.subscribe(lambda rec: seen.append(rec["type"]))
        url = await ledger.start()
        async with httpx.AsyncClient() as c:
            ns = [(await c.post(f"{url}/record", json={"type": "exec", "step": "p1#0"})).json()["n"]
                  for _ in range(3)]
            assert ns == [1, 2, 3]
            assert (await c.post(f"{url}/record", json={"type": "exec", "step": "p1#1"})).json()["n"] == 1
            await c.post(f"{url}/record", json={"type": "done", "pid": "p1", "obs": [1]})
            await c.post(f"{url}/record", json={"type": "done", "pid": "p1", "obs": [2]})
            assert (await c.post(f"{url}/record", content=b"{")).status_code == 400
            assert (await c.get(f"{url}/record")).status_code == 404
        await ledger.stop()
        assert ledger.done()["p1"]["obs"] == [1]
        assert ledger.executions("p1#0") == 3
        assert seen == ["exec"] * 4 + ["done"] * 2
        lines = [orjson.loads(x) for x in (tmp_path / "ledger.jsonl").read_bytes().splitlines()]
        assert [x["seq"] for x in lines] == sorted(x["seq"] for x in lines) and len(lines) == 6

    asyncio.run(go())
