"""The `micro` command. Each group lives in its own module; errors are one line, exit code 2.

The command is in the core install (click is a core dependency). The commands on an edge need
its extra and say so when it is missing: `micro build` needs `micro[site]`, `micro serve`
`micro[serve]`, `micro images generate` `micro[ai]`."""

from __future__ import annotations

import functools
import importlib.util
import sys
from typing import Any

import click

from micro.cli.build import build
from micro.cli.catalog import catalog_group, validate
from micro.cli.errors import CliError
from micro.cli.gallery import gallery
from micro.cli.images import images_group
from micro.cli.render import render_group
from micro.cli.serve import serve
from micro.cli.sign import sign


class OneLineGroup(click.Group):
    """The root group: a usage error (an option missing, a value not among its choices) is one
    line naming the option and what is allowed, exit code 2 — not Click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            rv = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # a bare command asks for its help
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="micro")
def main() -> None:
    """MICRO — virtual microscope and medical-imaging simulator."""


main.add_command(catalog_group)
main.add_command(validate)
main.add_command(render_group)
main.add_command(build)
main.add_command(serve)
main.add_command(gallery)
main.add_command(images_group)
main.add_command(sign)


EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "build": ("site", ("jinja2", "markdown_it")),
    "serve": ("serve", ("fastapi", "uvicorn")),
    "images generate": ("ai", ("openai",)),
}
"""Command path -> (the extra that provides it, the modules it imports from that extra)."""


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The `modules` that cannot be imported here (not installed, or refused by an import
    hook)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _needs_extra(command: click.Command, path: str, extra: str,
                 modules: tuple[str, ...]) -> None:
    """Check `command`'s extra before it runs (not for --help), one line if missing."""
    inner = command.callback
    if inner is None:
        raise TypeError(f"micro {path}: a command without a callback cannot need an extra")

    @functools.wraps(inner)
    def callback(*args: Any, **kwargs: Any) -> Any:
        missing = missing_modules(modules)
        if missing:
            raise CliError(f"micro {path} needs the '{extra}' extra "
                           f"(missing: {', '.join(missing)}): pip install 'micro[{extra}]'")
        return inner(*args, **kwargs)

    command.callback = callback


def _command(path: str) -> click.Command:
    command: click.Command = main
    for name in path.split():
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


for _path, (_extra, _modules) in EXTRAS.items():
    _needs_extra(_command(_path), _path, _extra, _modules)
