"""Versioning: a new deployment takes new invocations; in-flight ones finish where they started.

The kit starts a second services process (tagged) and registers it while an invocation is
suspended in a sleep; a step executed after the sleep records which process ran it. Needs
``process.control`` (only stacks the kit started), and runs alone (``exclusive``).
"""

from __future__ import annotations

from ..context import CaseContext
from ..registry import case


@case("UPG-001", "an in-flight invocation stays on its deployment; new ones go to the new deployment",
      requirements=["DISC-REG-4", "ADM-DEP-1"], capabilities=["process.control"], exclusive=True, timeout_s=60)
async def pinned(t: CaseContext) -> None:
    ctl = t.target.control
    assert ctl is not None
    prog = {"commands": [{"op": "sleep", "ms": 2000}, {"op": "run", "deploymentTag": True}]}
    before = await t.send_ok("Interpreter", "run", prog, key=t.uid(), idempotency_key=t.uid("ik"))
    await ctl.add_deployment("v2")
    after = await t.call_ok("Interpreter", "run", {"commands": [{"op": "run", "deploymentTag": True}]}, key=t.uid())
    t.must_eq(after, ["v2"], "a new invocation runs on the newly registered deployment")
    r = await t.attach(before, timeout=40)
    t.must_eq((r.status_code, r.json()), (200, [None, "default"]), "the in-flight invocation finished on its deployment")
