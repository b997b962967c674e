"""Server wire conformance: the kit plays a scripted SDK deployment (``WIRE-S-*`` cases).

Importing this package registers the cases (see :mod:`conformance.wire.cases`).
"""

from . import cases  # noqa: F401
