"""The `micro` command. Each group lives in its own module; errors are one line, exit code 2."""

from __future__ import annotations

import click

from micro.cli.build import build
from micro.cli.catalog import catalog_group, validate
from micro.cli.gallery import gallery
from micro.cli.images import images_group
from micro.cli.render import render_group
from micro.cli.serve import serve
from micro.cli.sign import sign


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
