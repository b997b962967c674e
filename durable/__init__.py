"""durable: a versioned Durable Execution Protocol with a reference server, a reference
Python SDK, a conformance kit and a fault-injection fuzzer."""

__version__ = "0.1.0"
