"""Services the fuzzer deploys behind its fault proxy (see interpreter.py)."""
