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


@main.group()
def data() -> None:
    """Get and inspect the rating data."""


@data.command("fetch")
def data_fetch() -> None:
    """Download MovieLens-100K into the cache (GroupLens, else RecBole's wheel) and verify it."""
    from mtlstudy.data import fetch_movielens  # imported here: pandas slows every other command

    path, source = fetch_movielens(progress=True)
    click.echo(f"MovieLens-100K: {path}\nsource: {source}")


@data.command("info")
@click.option("--dataset", type=click.Choice(["ml-100k", "synthetic"]), default="ml-100k", show_default=True)
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="A u.data, CSV or .inter file.")
@click.option("--no-verify", is_flag=True, help="Skip the MovieLens-100K checksum (to use another data set).")
def data_info(dataset: str, data_path: str | None, no_verify: bool) -> None:
    """Print users, items, ratings, the rating distribution and the source of a data set."""
    from mtlstudy.data import dataset_summary, load_dataset

    summary = dataset_summary(load_dataset(dataset, data_path, verify=not no_verify, progress=True))
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{rating}: {count}" for rating, count in value.items())
        click.echo(f"{key}: {value}")
