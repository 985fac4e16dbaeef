"""The report database's errors, shared by its schema, its key and its queries."""
from __future__ import annotations


class StorageError(RuntimeError):
    """The store cannot do what was asked; the message says why."""


class ReportKeyError(StorageError):
    """The report key is missing, unreadable, malformed or does not open this database."""


class UnknownReference(StorageError):
    def __init__(self, reference: str, reason: str = "no report with this reference number") -> None:
        self.reference = reference
        super().__init__(f"{reference}: {reason}")
