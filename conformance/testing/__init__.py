"""Helpers for testing the kit itself (and for implementers wiring the kit into their tests)."""
