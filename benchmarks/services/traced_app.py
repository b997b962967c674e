"""The reference bench app with the SDK's tracepoints installed (``benchmarks.critical_path``)."""

from benchmarks.tracepoints import install_sdk

install_sdk()

from benchmarks.services.reference_app import app  # noqa: E402

__all__ = ["app"]
