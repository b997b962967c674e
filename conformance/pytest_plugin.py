"""pytest integration: run the conformance kit inside an implementer's own test suite.

Inert unless asked: without ``--conformance`` (or one of the ``--conformance-*`` options) the
plugin adds nothing to the collection and starts nothing. With it, every selected case becomes
a test item (``conformance::ING-001[default]``): FAIL fails the test, UNIMPLEMENTED and SKIPPED
skip it, NON-STRICT passes with a warning. Fixtures ``conformance_target`` (a started or given
:class:`~conformance.target.Target`) and ``conformance_run`` (run cases by glob from your own
tests) are always available and start nothing until used.

    pytest --conformance --conformance-target reference --conformance-only 'ING-*'
    pytest --conformance --conformance-ingress http://127.0.0.1:8080 \\
           --conformance-admin http://127.0.0.1:9070 --conformance-services http://127.0.0.1:9080
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import profile as profile_mod
from .model import Case, CaseResult, Mode, Verdict
from .registry import select
from .runner import run_case, run_cases
from .stack import register, started
from .target import Target

_OPTS = ("conformance_target", "conformance_ingress", "conformance_admin", "conformance_services",
         "conformance_only", "conformance_mode", "conformance_profile")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "durable conformance kit")
    g.addoption("--conformance", action="store_true", default=False, help="run the conformance cases as tests")
    g.addoption("--conformance-target", default=None, help="reference | restate (started by the kit)")
    g.addoption("--conformance-ingress", default=None, help="ingress URL of a running implementation")
    g.addoption("--conformance-admin", default=None, help="admin URL of a running implementation")
    g.addoption("--conformance-services", default=None, help="test services URL to register")
    g.addoption("--conformance-only", action="append", default=None, help="case/requirement id glob")
    g.addoption("--conformance-mode", default=None, help="default | always-suspend | all")
    g.addoption("--conformance-profile", default=None, help="profile name or file")


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("conformance")) or any(config.getoption(o) for o in _OPTS)


class _Targets:
    """Targets started lazily, one per mode, stopped at the end of the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.stack = contextlib.ExitStack()
        self.targets: dict[Mode, Target] = {}

    def get(self, mode: Mode) -> Target:
        if mode in self.targets:
            return self.targets[mode]
        opt = self.config.getoption
        ingress, admin, services = opt("conformance_ingress"), opt("conformance_admin"), opt("conformance_services")
        kind = opt("conformance_target") or "reference"
        prof = profile_mod.load(opt("conformance_profile") or (None if ingress else kind))
        if ingress and admin:
            if services:
                register(admin.rstrip("/"), services.rstrip("/"))
            target = Target(prof.name, ingress, admin, services, prof.capabilities, prof.differences)
        else:
            s = self.stack.enter_context(started(kind, mode is Mode.ALWAYS_SUSPEND))
            target = Target(kind, s.ingress, s.admin, s.services, prof.capabilities, prof.differences,
                            s.control(), prof.lacks_reasons)
        self.targets[mode] = target
        return target

    def close(self) -> None:
        self.stack.close()


def _targets(config: pytest.Config) -> _Targets:
    t = getattr(config, "_durable_conformance_targets", None)
    if t is None:
        t = _Targets(config)
        config._durable_conformance_targets = t  # type: ignore[attr-defined]
    return t


def pytest_unconfigure(config: pytest.Config) -> None:
    t = getattr(config, "_durable_conformance_targets", None)
    if t is not None:
        t.close()


def _modes(config: pytest.Config) -> list[Mode]:
    m = config.getoption("conformance_mode") or "default"
    return [Mode.DEFAULT, Mode.ALWAYS_SUSPEND] if m in ("all", "both") else [Mode(m)]


class ConformanceItem(pytest.Item):
    def __init__(self, *, case: Case, mode: Mode, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.mode = mode

    def runtest(self) -> None:
        target = _targets(self.config).get(self.mode)
        r = asyncio.run(run_case(self.case, target, self.mode))
        if r.verdict is Verdict.FAIL and not r.explained:
            raise ConformanceFailure(r)
        if r.verdict in (Verdict.UNIMPLEMENTED, Verdict.SKIPPED):
            pytest.skip(f"{r.verdict.value}: {r.message}")
        if r.verdict is Verdict.NON_STRICT or r.explained:
            warnings.warn(f"{self.case.id} {r.verdict.value}: {r.explained or r.message}", stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure):
            r = excinfo.value.result
            lines = [f"{r.case.id} {r.case.title} [{r.mode.value}] cites {', '.join(r.case.requirements)}",
                     f"FAIL: {r.message}", "wire log:"]
            lines += [f"  {w.method} {w.url} -> {w.status} {w.response_body[:200]}" for w in r.wire_log]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"conformance {self.case.id} [{self.mode.value}]"


class ConformanceFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _enabled(config):
        return
    for mode in _modes(config):
        for c in select(config.getoption("conformance_only") or []):
            items.append(ConformanceItem.from_parent(session, name=f"conformance::{c.id}[{mode.value}]", case=c, mode=mode))


@pytest.fixture(scope="session")
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The target for the default mode (started on first use when no URLs are given)."""
    yield _targets(request.config).get(_modes(request.config)[0])


@pytest.fixture(scope="session")
def conformance_run(request: pytest.FixtureRequest) -> Callable[..., list[CaseResult]]:
    """``conformance_run("ING-*", mode=Mode.DEFAULT)`` runs matching cases, returns their results."""

    def run(*patterns: str, mode: Mode = Mode.DEFAULT, concurrency: int = 16) -> list[CaseResult]:
        target = _targets(request.config).get(mode)
        return asyncio.run(run_cases(select(list(patterns)), target, mode, concurrency))

    return run
