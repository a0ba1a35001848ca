"""Domain errors of the core. The edges (CLI, API) map them to exit codes and HTTP statuses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _allowed_text(allowed: Any) -> str:
    if allowed is None:
        return ""
    if isinstance(allowed, str):
        return allowed
    if isinstance(allowed, Iterable):
        items = [str(a) for a in allowed]
        if len(items) > 12:
            items = [*items[:12], f"... ({len(items)} in all)"]
        return ", ".join(items)
    return str(allowed)


class MicroError(Exception):
    """Base of every error MICRO raises on purpose."""

    def __init__(self, message: str, *, field: str | None = None, allowed: Any = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.allowed = allowed

    @property
    def allowed_text(self) -> str:
        return _allowed_text(self.allowed)

    def one_line(self) -> str:
        """The error as one line: field, problem and what is allowed."""
        parts = []
        if self.field:
            parts.append(f"{self.field}: {self.message}")
        else:
            parts.append(self.message)
        if self.allowed is not None:
            parts.append(f"allowed: {self.allowed_text}")
        return " — ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        allowed = self.allowed
        if allowed is not None and not isinstance(allowed, (str, int, float, list, dict)):
            allowed = list(allowed)
        return {"error": self.message, "field": self.field, "allowed": allowed}


class InvalidRequest(MicroError):
    """A render request names an unknown id, an out-of-range number or a bad combination."""


class NotFound(MicroError):
    """A path or id that does not exist (no such catalog entry, no library image)."""


class LimitExceeded(MicroError):
    """A request that would cost more than the configured limits allow."""


class TooMuchWork(LimitExceeded):
    """A valid request whose render would exceed the per-render work budget (memory, time):
    the parameter named is the one to change."""


class CatalogError(MicroError):
    """A data file is invalid. Names the file, the entry and the field."""

    def __init__(self, message: str, *, file: str, entry: str | None = None,
                 field: str | None = None, allowed: Any = None):
        super().__init__(message, field=field, allowed=allowed)
        self.file = file
        self.entry = entry

    def one_line(self) -> str:
        where = self.file
        if self.entry:
            where += f" [{self.entry}]"
        if self.field:
            where += f" {self.field}"
        text = f"{where}: {self.message}"
        if self.allowed is not None:
            text += f" (allowed: {self.allowed_text})"
        return text


class CatalogErrors(MicroError):
    """Every error found while loading a data directory."""

    def __init__(self, errors: list[CatalogError]):
        super().__init__(f"{len(errors)} error(s) in the catalog")
        self.errors = errors

    def one_line(self) -> str:
        return "; ".join(e.one_line() for e in self.errors)
