"""The ``mtlstudy`` command line: parses options and calls one library function each."""

from __future__ import annotations

import json
import shlex
import sys
import warnings

import click

from mtlstudy._errors import DataSizeWarning, MtlStudyError, no_space_error
from mtlstudy._schema import DEFAULT_DIR

# The longest line an error or warning prints: click's own messages quote a bad value whole.
_LINE_LIMIT = 1000


def _one_line(message: str) -> str:
    """``message`` as one line of at most about :data:`_LINE_LIMIT` characters (its middle left out)."""
    line = " ".join(message.splitlines())
    if len(line) <= _LINE_LIMIT:
        return line
    half = _LINE_LIMIT // 2
    return f"{line[:half]} ...({len(line) - 2 * half} characters left out)... {line[-half:]}"


class _Group(click.Group):
    """A click group that turns bad input, ours or click's, into one line on stderr and its exit code
    (2 for bad input), and our warnings into one line each."""

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            show = warnings.showwarning

            def show_warning(message, category, *where):
                if issubclass(category, DataSizeWarning):
                    click.echo(f"Warning: {_one_line(str(message))}", err=True)
                else:
                    show(message, category, *where)

            warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except click.exceptions.NoArgsIsHelpError:
                raise  # the help a group without a command prints
            except click.UsageError as error:
                # click would put its usage and a hint above its own errors; bad input gets one line
                click.echo(f"Error: {_one_line(error.format_message())}", err=True)
                ctx.exit(error.exit_code)
            except Exception as error:
                reported = _reported(error)
                if reported is None:
                    raise
                click.echo(f"Error: {_one_line(str(reported))}", err=True)
                ctx.exit(reported.exit_code)


def _reported(error: BaseException) -> MtlStudyError | None:
    """The error of ours that ``error`` is or carries, None if it is a bug to show whole.

    Ray Tune raises a TuneError in place of an error raised in a study's searcher or callbacks; a
    full disk that no writer of ours named (a write into an open file) is still one line.
    """
    tune_error = getattr(sys.modules.get("ray.tune.error"), "TuneError", ())  # no Ray loaded: no TuneError
    while isinstance(error, tune_error) and (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    return error if isinstance(error, MtlStudyError) else no_space_error(error)


@click.group(cls=_Group)
@click.version_option(package_name="mtlstudy")
def main() -> None:
    """Multi-task recommender hyperparameter studies: MSE vs MRR under loss weighting."""


def _number(ctx: click.Context, param: click.Parameter, value: str | None):
    """Click callback: a number, or the text itself, which the option's check names in one line."""
    try:
        return None if value is None else float(value)
    except ValueError:
        return value


_VALIDATION_HELP = "Share of the training rows held out to choose best epochs and early stopping by, 0: none"


@main.command()
@click.option("--shared/--no-shared", default=True, show_default=True, help="One embedding pair for both heads, or one per head.")
@click.option("--lambda-f", type=float, default=0.99, show_default=True, help="Weight of the factorization (ranking) loss.")
@click.option("--lambda-r", type=float, default=0.01, show_default=True, help="Weight of the regression (rating) loss.")
@click.option("--user-bias/--no-user-bias", default=False, show_default=True, help="Add a per-user bias to the factorization score.")
@click.option("--epochs", type=int, default=200, show_default=True)
@click.option("--embedding-dim", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds initialisation, shuffling and negatives.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, help="Torch CPU threads (default: torch's choice).")
@click.option("--dataset", type=click.Choice(["ml-100k", "synthetic"]), default="ml-100k", show_default=True)
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="A u.data, CSV or .inter file.")
@click.option("--no-verify", is_flag=True, help="Skip the MovieLens-100K checksum (to use another data set).")
@click.option("--test-fraction", type=float, default=0.05, show_default=True)
@click.option("--split-seed", type=int, default=123, show_default=True)
@click.option("--validation-fraction", default="0", show_default=True, callback=_number, help=f"{_VALIDATION_HELP}.")
@click.option("--k", type=int, default=10, show_default=True, help="Cut-off of hit rate and NDCG.")
@click.option("--logdir", type=click.Path(file_okay=False), help=f"Run directory [default: {DEFAULT_DIR}/train-<time>].")
def train(threads: int | None, logdir: str | None, no_verify: bool, **options) -> None:
    """Train one multi-task model, logging every epoch to TensorBoard and metrics.csv."""
    from mtlstudy.training import TrainConfig, default_logdir, format_summary, train_model

    config = TrainConfig(verify_data=not no_verify, **options)
    logdir = logdir or default_logdir()
    # The progress bar redraws a terminal line; redirected into a file it would write every redraw.
    summary = train_model(config, logdir, threads=threads, progress=sys.stderr.isatty())
    click.echo(format_summary(summary))
    click.echo(f"logs: {logdir} (metrics.csv, config.json; tensorboard --logdir {shlex.quote(str(logdir))})")


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


def _key_values(ctx: click.Context, param: click.Parameter, pairs: tuple[str, ...]) -> dict | None:
    """Click callback: ``KEY=VALUE`` pairs as a dict (see ``parse_key_values``), None if none."""
    from mtlstudy.study import parse_key_values

    return parse_key_values(pairs, param.opts[0]) or None


def _trial_numbers(ctx: click.Context, param: click.Parameter, text: str | None) -> list[int] | None:
    """Click callback: ``3,7,12`` as a list of trial numbers (see ``parse_trial_numbers``), None if not given."""
    from mtlstudy.study import parse_trial_numbers

    return None if text is None else parse_trial_numbers(text, param.opts[0])


def _replicate_options(command):
    """The options of ``study run`` and ``study extend`` that retrain trials with new seeds."""
    command = click.option(
        "--replicate-trials", metavar="N,N,...", callback=_trial_numbers,
        help="Trial numbers to replicate [the Pareto-front trials].",
    )(command)
    return click.option(
        "--replicates", type=int, help="Retrain each chosen trial this many times with new seeds, after the search [0].",
    )(command)


def _yaml_scalar(ctx: click.Context, param: click.Parameter, value: str | None):
    """Click callback: a number, or the text itself, for options that take either (``--pack 4``, ``--pack auto``)."""
    import yaml

    try:
        return None if value is None else yaml.safe_load(value)
    except yaml.YAMLError:
        return value  # the spec's validation names the bad value


def _study_options(command):
    """The options shared by ``study run`` and ``reproduce``: every study-spec key."""
    options = [
        click.option("--sampler", help="tpe (default), nsga2, gp or random."),
        click.option("--concurrency", type=int, help="Most trials at once [default: as resources allow]."),
        click.option("--value", type=click.Choice(["final", "best"]), help="Judge trials by their last or best epoch [final]."),
        click.option("--seed", type=int, help="Seed of the sampler and the trials [0]."),
        click.option("--user-bias/--no-user-bias", default=None, help="A user bias in every trial."),
        click.option("--lambda-f-range", type=(float, float), help="Range of lambda_f [0.001 0.999]."),
        click.option("--lambda-r-range", type=(float, float), help="Range of lambda_r (independent space)."),
        click.option("--lambda-log/--lambda-linear", default=None, help="Log (logit) or linear lambda scale."),
        click.option("--dataset", help="ml-100k (default) or synthetic."),
        click.option("--data", type=click.Path(dir_okay=False), help="A u.data, CSV or .inter file."),
        click.option(
            "--dataset-option", "dataset_options", multiple=True, callback=_key_values,
            help="KEY=VALUE for synthetic data.",
        ),
        click.option("--embedding-dim", type=int),
        click.option("--lr", type=float),
        click.option("--batch-size", type=int),
        click.option("--validation-fraction", callback=_number, help=f"{_VALIDATION_HELP} [0]."),
        click.option("--cpus-per-trial", type=float, help="CPUs (and torch threads) per trial [1]."),
        click.option("--gpus-per-trial", type=float, help="GPU fraction per trial (0.25: four per GPU) [0]."),
        click.option("--address", help="Join a Ray cluster (auto, ray://host:port) instead of a local Ray."),
        click.option("--storage", help="SQLAlchemy URL of the Optuna database [SQLite in the study dir]."),
        click.option("--max-failures", type=int, help="Retries of a failed trial [1]."),
        click.option("--checkpoint-every", type=int, help="Epochs between checkpoints, 0: at the end only [10]."),
        click.option(
            "--early-stopping",
            help="moasha: stop trials dominated at a rung, with options +arch, +brackets, +bsf (moasha+arch); "
            "none: every trial trains all its epochs [none].",
        ),
        click.option("--grace-epochs", type=int, help="First rung r of early stopping; rungs at r, r*eta, ... [5]."),
        click.option("--reduction-factor", type=float, help="eta: continue past a rung if in the top 1/eta there [3]."),
        click.option(
            "--pack", metavar="K|auto", callback=_yaml_scalar,
            help="Trials trained together as one fused model per Ray trial, or auto [1].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_dir_option = click.option(
    "--dir", default=DEFAULT_DIR, show_default=True, help="Parent directory of studies, or s3://bucket/prefix."
)

_format_option = click.option(
    "--format", "format_", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Text for people, JSON for scripts.",
)


@main.group()
def study() -> None:
    """Run, resume and inspect multi-objective studies (test MSE vs test MRR)."""


@study.command("run")
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--name", help="Study name; the study lives in DIR/NAME [study].")
@click.option("--space", help="simplex (default), independent, conditional, seed-grid or package.module:function.")
@click.option("--trials", type=int, help="Trials to run [20; a grid space: its size].")
@click.option("--epochs", type=int, help="Epochs per trial [200].")
@click.option("--seeds", type=int, help="Seeds per point of a grid space [1].")
@click.option("--user-bias-point/--no-user-bias-point", default=None, help="seed-grid: add shared 0.99/0.01 with a user bias.")
@click.option("--dir", help=f"Parent directory of studies, or s3://bucket/prefix (needs --storage) [{DEFAULT_DIR}].")
@_replicate_options
@_study_options
def study_run(spec_file: str | None, **options) -> None:
    """Run a new study from SPEC_FILE (YAML or TOML) and options; options override the file.

    Exits with status 1 if a trial failed.
    """
    from mtlstudy.study import resolve_spec, run_study

    _exit_if_failed(run_study(resolve_spec(spec_file, **options), echo=click.echo))


@study.command("resume")
@click.argument("name")
@_dir_option
def study_resume(name: str, dir: str) -> None:
    """Continue an interrupted study until its trial budget is met; exits with status 1 if a trial failed."""
    from mtlstudy.study import resume_study

    _exit_if_failed(resume_study(name, dir, echo=click.echo))


@study.command("extend")
@click.argument("name")
@_dir_option
@click.option("--trials", type=int, help="Sampled trials to add (all epochs, no early stopping).")
@_replicate_options
def study_extend(name: str, dir: str, **options) -> None:
    """Add sampled trials and/or replicates to study NAME once it has ended; exits with status 1 if a trial failed."""
    from mtlstudy.study import extend_study

    _exit_if_failed(extend_study(name, dir, echo=click.echo, **options))


def _exit_if_failed(counts: dict[str, int]) -> None:
    """Exit with status 1 when a study's trial counts (by Optuna state) include failed ones."""
    if counts.get("FAIL"):
        click.get_current_context().exit(1)


@study.command("status")
@click.argument("name")
@_dir_option
@click.option("--storage", help="The Optuna database, if not the one the study was created with.")
@_format_option
def study_status_command(name: str, dir: str, storage: str | None, format_: str) -> None:
    """Trials by state, compute spent, best values and the Pareto set of study NAME."""
    from mtlstudy.study import study_status

    status = study_status(name, dir, storage=storage)
    click.echo(json.dumps(status.to_dict(), indent=2) if format_ == "json" else status.to_text())


@study.command("list")
@_dir_option
@_format_option
def study_list(dir: str, format_: str) -> None:
    """One line per study in DIR."""
    from mtlstudy.study import list_studies

    summaries = list_studies(dir)
    if format_ == "json":
        click.echo(json.dumps([summary.to_dict() for summary in summaries], indent=2))
    else:
        click.echo("\n".join(summary.to_text() for summary in summaries) or f"no studies in {dir!r}")


class _Orders(click.ParamType):
    """A count of arrival orders, or ``recorded``."""

    name = "N|recorded"

    def convert(self, value, param, ctx):
        if value == "recorded" or isinstance(value, int):
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of orders nor 'recorded'", param, ctx)


@main.group()
def stopping() -> None:
    """Check early-stopping rules on studies that have ended."""


@stopping.command("replay")
@click.argument("name")
@_dir_option
@click.option("--rule", "rules", multiple=True, help="A rule of --early-stopping (repeat) [every moasha rule].")
@click.option("--grace-epochs", type=int, multiple=True, help="First rung r (repeat to compare) [the study's].")
@click.option("--reduction-factor", type=float, help="eta [the study's].")
@click.option("--concurrency", type=int, help="Trials at once [the study's, else 2].")
@click.option("--orders", type=_Orders(), default=20, show_default=True, help="Seeded arrival orders to replay, or 'recorded'.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the arrival orders.")
@click.option("--figure", type=click.Path(dir_okay=False), help="Also draw hypervolume kept against compute (.png, .svg, .pdf).")
@click.option("--storage", help="The Optuna database, if not the one the study was created with.")
@_format_option
def stopping_replay(name: str, dir: str, grace_epochs: tuple[int, ...], format_: str, **options) -> None:
    """Replay early-stopping rules on study NAME, whose trials all trained every epoch: the
    compute each rule saves, the hypervolume it keeps and the front trials it stops."""
    from mtlstudy.study import replay_stopping

    replay = replay_stopping(name, dir, grace_epochs=list(grace_epochs) or None, **options)
    click.echo(json.dumps(replay.to_dict(), indent=2) if format_ == "json" else replay.to_text())


@main.command()
@click.argument("name")
@_dir_option
@click.option("--trials", type=int, default=12, show_default=True, help="Fresh trials to train.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the loss weights drawn.")
@_format_option
def calibrate(name: str, dir: str, trials: int, seed: int, format_: str) -> None:
    """Train fresh trials between study NAME's trials and count those inside the trade-off's prediction bands."""
    from mtlstudy.study import calibrate_study

    coverage = calibrate_study(name, dir, trials=trials, seed=seed, echo=click.echo if format_ == "text" else _to_stderr)
    if format_ == "json":
        click.echo(json.dumps(coverage.to_dict(), indent=2))  # as the report's summary.json holds it
        return
    click.echo(f"coverage of the {coverage.level:.0%} prediction bands ({coverage.value} values, x = {coverage.x_name}):")
    click.echo(coverage.table.to_string(index=False))
    for note in coverage.notes:
        click.echo(note)


def _to_stderr(line: str) -> None:
    click.echo(line, err=True)


@main.command()
@click.argument("name")
@_dir_option
@click.option(
    "--optuna-port", type=click.IntRange(0, 65535), default=8080, show_default=True,
    help="Port of optuna-dashboard (0: any free one).",
)
@click.option(
    "--tensorboard-port", type=click.IntRange(0, 65535), default=6006, show_default=True,
    help="Port of TensorBoard (0: any free one).",
)
@click.option("--storage", help="The Optuna database, if not the one the study was created with.")
def dashboard(name: str, dir: str, optuna_port: int, tensorboard_port: int, storage: str | None) -> None:
    """Serve study NAME in optuna-dashboard and TensorBoard (on 127.0.0.1) until Ctrl-C."""
    from mtlstudy.study import open_dashboard

    with open_dashboard(
        name, dir, optuna_port=optuna_port, tensorboard_port=tensorboard_port, storage=storage
    ) as served:
        click.echo(f"optuna-dashboard: {served.optuna_url}\nTensorBoard:      {served.tensorboard_url}")
        click.echo("Press Ctrl-C to stop both.")
        served.wait()
    click.echo("stopped")


@main.command("export")
@click.argument("name")
@_dir_option
@click.option("--format", "format_", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="File, or - for stdout [DIR/NAME/NAME[-epochs].FORMAT].")
@click.option("--epochs", is_flag=True, help="One row per trial and epoch instead of one per trial.")
@click.option("--storage", help="The Optuna database, if not the one the study was created with.")
def export(name: str, dir: str, format_: str, output: str | None, epochs: bool, storage: str | None) -> None:
    """Write study NAME as a table: one row per trial (or per trial and epoch)."""
    from mtlstudy.study import export_study

    path = export_study(name, dir, output=output, format=format_, epochs=epochs, storage=storage)
    if path is not None:
        click.echo(path)


@main.command("reproduce")
@click.option("--epochs", type=int, default=200, show_default=True)
@click.option("--seeds", type=int, default=1, show_default=True, help="Seeds per point.")
@_dir_option
@click.option("--name", default="reproduce", show_default=True)
@_study_options
def reproduce_command(epochs: int, seeds: int, dir: str, name: str, **options) -> None:
    """Run the original four points (plus shared 0.99/0.01 with a user bias) and compare."""
    from mtlstudy.analysis import format_published_comparison
    from mtlstudy.study import reproduce

    result = reproduce(epochs=epochs, seeds=seeds, dir=dir, name=name, echo=click.echo, **options)
    click.echo(format_published_comparison(result.comparison))
    for sentence in result.sentences:
        click.echo(f"\n{sentence}")
    click.echo(f"\nreport: {result.report / 'index.html'}")


@main.command()
@click.argument("name")
@_dir_option
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Report folder [DIR/NAME/report].")
@click.option(
    "--format", "formats", type=click.Choice(["html", "md"]), multiple=True, default=("html", "md"),
    show_default=True, help="Pages to write (repeat for both).",
)
@click.option(
    "--value", type=click.Choice(["final", "best"]), default="final", show_default=True,
    help="Analyse each trial's last or best epoch.",
)
@click.option("--mse-budget", type=float, help="Also report the lambda_F maximising MRR at test MSE <= this.")
@click.option("--reference-point", type=(float, float), help="Hypervolume reference (MSE MRR) [worst seen].")
@click.option("--interactive", is_flag=True, help="Also write interactive.html (needs plotly).")
@click.option(
    "--include-stopped", is_flag=True,
    help="Analyse trials stopped early too, at their last epoch [only trials that trained every epoch].",
)
@click.option(
    "--questions", is_flag=True,
    help="Answer the original write-up's questions and compare with its numbers [seed-grid studies only].",
)
@click.option(
    "--figure-format", "figure_formats", default="png", show_default=True,
    help="Figure formats, comma-separated, e.g. png,svg,pdf (PNG is always written).",
)
@click.option("--storage", help="The Optuna database, if not the one the study was created with.")
def report(name: str, dir: str, output: str | None, formats: tuple[str, ...], figure_formats: str, **options) -> None:
    """Write the report of study NAME: provenance, Pareto front, hypervolume, trade-off curves, figures."""
    from mtlstudy.study import report_study

    chosen = tuple(item.strip() for item in figure_formats.split(",") if item.strip())
    path = report_study(name, dir, output, formats=formats, figure_formats=chosen, **options)
    pages = ", ".join("index.html" if page == "html" else "report.md" for page in formats)
    click.echo(f"report: {path} ({pages})")
