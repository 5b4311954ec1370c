"""The ``mtlstudy`` command line: parses options and calls one library function each."""

from __future__ import annotations

import click

from mtlstudy._errors import MtlStudyError


class _Group(click.Group):
    """A click group that turns our errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MtlStudyError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="mtlstudy")
def main() -> None:
    """Multi-task recommender hyperparameter studies: MSE vs MRR under loss weighting."""
