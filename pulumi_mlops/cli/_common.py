"""Helpers shared by the command modules: one console, and user errors printed without tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

__all__ = ["EXIT_USAGE", "UserError", "console", "err_console", "user_errors"]

# Messages are not wrapped at the console width: a terminal wraps them itself, and a log or a pipe keeps each
# message on one line for grep. Tables still fit the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
EXIT_USAGE = 2


class UserError(Exception):
    """An error in what the user asked for; printed as a message, never as a traceback."""


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Print ``UserError`` and the given exception kinds as a red message and exit 2.

    The message is printed as plain text: brackets in it (a regular expression, a list) are not console markup.
    """
    caught: tuple[type[BaseException], ...] = (UserError, *kinds)
    try:
        yield
    except caught as exc:
        err_console.print(Text.assemble(("error:", "bold red"), " ", str(exc)), highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
