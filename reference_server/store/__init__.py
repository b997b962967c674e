"""Durable storage behind one small interface (SQLite by default)."""

from .base import Op, Store, TimerRow
from .sqlite import SqliteStore

__all__ = ["Op", "SqliteStore", "Store", "TimerRow"]
