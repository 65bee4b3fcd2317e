"""``collections-dashboard score``: the early-warning score of every Current customer (or,
``--target roll-risk``, the roll risk of every customer 1–90 days past due), and its
out-of-time evaluation (``score evaluate``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dashboard.sources import DEFAULT_SOURCE

score_app = typer.Typer(
    help="Early-warning score: P(31+ days past due within 3 month-ends | Current today); "
    "--target roll-risk: P(91+ days past due within 3 month-ends | 1–90 days past due today).",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)

SourceOption = Annotated[
    str,
    typer.Option("--source", help="CSV folder, SQLite file or Parquet folder (default: data/)."),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Scoring day YYYY-MM-DD (default: the latest payment date)."),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="logistic or boosting (default: the target's; logistic for early-warning)."
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the training sample and model.")]
TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        help="early-warning (Current today → 31+ days past due within 3 month-ends) or "
        "roll-risk (1–90 days past due today → 91+, the worklist's Early-queue ranking).",
    ),
]


def _target(key: str):
    from dashboard.score import TARGETS

    if key not in TARGETS:
        raise ValueError(f"--target {key!r}: one of {', '.join(TARGETS)}")
    return TARGETS[key]


def _exit_2_on_data_errors(run):
    """Run ``run()``; a data problem or a bad argument ends with one stderr line, exit 2."""
    from dashboard import SourceError

    try:
        return run()
    except (SourceError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _as_of(text: str | None):
    import pandas as pd

    if text is None:
        return None
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except ValueError:
        raise ValueError(f"--as-of {text!r}: write the date as YYYY-MM-DD") from None


@score_app.callback()
def score(
    ctx: typer.Context,
    source: SourceOption = str(DEFAULT_SOURCE),
    as_of: AsOfOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="CSV to write (default: standard output).")
    ] = None,
    model: ModelOption = None,
    seed: SeedOption = 17,
    target: TargetOption = "early-warning",
) -> None:
    """Write ``customer_id,score`` for every customer Current on the as-of day (with
    ``--target roll-risk``: every customer 1–90 days past due); the model trains on the
    month-ends whose 3-month outcome is known by then."""
    if ctx.invoked_subcommand is not None:
        return

    def run() -> None:
        from dashboard.loader import load_portfolio
        from dashboard.score import scores_at

        chosen = _target(target)
        portfolio = load_portfolio(source)
        day, kind = _as_of(as_of), model or chosen.model
        scores = scores_at(portfolio, day, kind=kind, seed=seed, target=chosen)
        frame = scores.round(6).reset_index()
        if out is None:
            frame.to_csv(sys.stdout, index=False)
        else:
            frame.to_csv(out, index=False)
            typer.echo(f"wrote {len(frame):,} scores to {out}", err=True)

    _exit_2_on_data_errors(run)


@score_app.command("evaluate")
def evaluate(
    source: SourceOption = str(DEFAULT_SOURCE),
    as_of: AsOfOption = None,
    seed: SeedOption = 17,
    anchor: Annotated[
        bool,
        typer.Option(
            "--anchor/--no-anchor",
            help="Also the bill-level task (will a bill be missed, from what was known at "
            "its issue) beside the original's AUC 0.601.",
        ),
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the calibration plot (HTML or PNG).")
    ] = None,
    models: Annotated[
        str, typer.Option("--models", help="Models to compare, comma-separated.")
    ] = "logistic,boosting",
    target: TargetOption = "early-warning",
) -> None:
    """Out-of-time AUC, Brier score, top-decile capture and calibration of each model."""

    def run() -> None:
        from dashboard.loader import load_portfolio
        from dashboard.score import evaluation

        chosen = _target(target)
        portfolio = load_portfolio(source)
        kinds = tuple(kind.strip() for kind in models.split(",") if kind.strip())
        result = evaluation(portfolio, _as_of(as_of), kinds=kinds, seed=seed, target=chosen)
        typer.echo(result.table())
        if anchor:
            from dashboard.score.anchor import anchor_evaluation

            typer.echo("")
            anchored = anchor_evaluation(portfolio, as_of=_as_of(as_of), kinds=kinds, seed=seed)
            typer.echo(anchored.table())
        if plot is not None:
            from dashboard.score.plot import save_calibration_plot

            save_calibration_plot(result.calibration, plot)
            typer.echo(f"wrote {plot}", err=True)

    _exit_2_on_data_errors(run)
