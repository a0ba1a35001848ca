"""CLI errors: one line naming the field and what is allowed, exit code 2, no traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from micro.core.errors import MicroError

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    exit_code = 2

    def format_message(self) -> str:
        return self.message


def one_line_errors(func: F) -> F:
    """Turn domain errors into one-line CLI errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MicroError as exc:
            raise CliError(exc.one_line()) from None

    return wrapper  # type: ignore[return-value]
