"""Server-conformance cases, one module per category; importing this package registers them.

Case ids are ``<CATEGORY>-<NNN>``; each case cites the requirement ids it checks (spec/01-07
plus the test-services contract ``TS-*`` of spec/08).
"""

from . import (  # noqa: F401
    admin,
    calls,
    cancel,
    combinators,
    crash,
    determinism,
    errors,
    idempotency,
    ingress,
    more_admin,
    more_ingress,
    objects,
    promises,
    properties,
    sagas,
    security,
    state,
    steps,
    timers,
    upgrade,
    workflows,
)
