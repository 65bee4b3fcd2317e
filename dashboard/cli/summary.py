"""The portfolio summary: the figures of ``collections-dashboard summary`` as a dict.

It is computed from a :class:`~dashboard.cube.tables.Cube` with the same queries the
dashboard's model runs, so the CLI and the charts cannot disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dashboard import SourceError
from dashboard.cube.tables import Cube
from dashboard.query import forecast, ledger, provision, severe
from dashboard.query.bills import aggregate_bills, count_actions
from dashboard.query.selection import segment_selection
from dashboard.vocab import DIMENSIONS, FLAG_DIMENSIONS

RATE_DIGITS = 4


def parse_filters(items: Sequence[str], cube: Cube) -> dict[str, list]:
    """Turn ``DIM=VALUE`` strings into a filter mapping, checking names and values.

    Parameters
    ----------
    items : sequence of str
        ``DIM=VALUE``; several values of one dimension are ORed.
    cube : Cube
        Gives the dimension values present.

    Returns
    -------
    dict of str to list
        Values per dimension (ints 0/1 for flag dimensions).

    Raises
    ------
    SourceError
        On a malformed item, an unknown dimension or a value not in the data.
    """
    filters: dict[str, list] = {}
    for item in items:
        dim, sep, text = item.partition("=")
        dim, text = dim.strip(), text.strip()
        if not sep or not dim:
            raise SourceError(f"--filter {item!r}: write DIM=VALUE, e.g. region=Reading")
        if dim not in DIMENSIONS:
            raise SourceError(
                f"--filter {item!r}: unknown dimension {dim!r}; use one of {', '.join(DIMENSIONS)}"
            )
        known = list(cube.segments[dim].cat.categories)
        value: object = text
        if dim in FLAG_DIMENSIONS:
            value = int(text) if text in ("0", "1") else text
        if value not in known:
            shown = ", ".join(map(str, known))
            raise SourceError(f"--filter {item!r}: no {dim} {text!r} in the data; known: {shown}")
        filters.setdefault(dim, []).append(value)
    return filters


def month_start_of(text: str | None, option: str) -> pd.Timestamp | None:
    """Parse ``YYYY-MM`` into the month's first day (None stays None)."""
    if text is None:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}", text.strip()):
        raise SourceError(f"{option} {text!r}: write the month as YYYY-MM")
    try:
        return pd.Timestamp(pd.Period(text, freq="M").start_time)
    except ValueError:
        raise SourceError(f"{option} {text!r}: write the month as YYYY-MM") from None


def portfolio_summary(
    cube: Cube,
    filters: Mapping[str, Sequence] | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    include_immature: bool = False,
) -> dict:
    """Build the summary dict (the exact ``summary --json`` shape).

    Parameters
    ----------
    cube : Cube
    filters : mapping, optional
        Dimension values to keep (ORed within, ANDed across dimensions).
    start, end : Timestamp, optional
        Bill months (of ``bill_period_end``) to select, inclusive.
    include_immature : bool, optional
        Count immature bills in ``bills``, ``defaults`` and ``default_rate``.

    Returns
    -------
    dict
        ``as_of``, ``window``, ``include_immature``, ``overall``, ``monthly``,
        ``segments``, ``actions``, ``bucket_edges`` and ``ageing`` (one entry per
        month-end and days-past-due bucket: ``month``, ``bucket``, ``customers`` on book,
        ``arrears`` in pounds) and ``movement`` (one entry per month: opening and closing
        arrears and credit, fell due, cash, written off, other adjustments, in pounds;
        :func:`dashboard.query.ledger.movement`); rates are fractions (None when nothing
        is counted), money in pounds.
    """
    segments = segment_selection(cube, filters)
    total = aggregate_bills(cube, segments, start, end, (), include_immature).iloc[0]
    monthly = aggregate_bills(cube, segments, start, end, ["month"], include_immature)
    ranged = start is not None or end is not None
    actions = count_actions(cube, segments, start, end) if ranged else count_actions(cube, segments)
    return {
        "as_of": cube.as_of.strftime("%Y-%m-%d"),
        "window": {
            "before": cube.window.before,
            "after": cube.window.after,
            "tolerance": cube.window.tolerance_pence / 100,
        },
        "include_immature": include_immature,
        "overall": _figures(total, money=True),
        "monthly": [
            {
                "month": row.month.strftime("%Y-%m"),
                **_figures(row, money=True),
                "mature": _mature(row),
            }
            for row in monthly.itertuples(index=False)
        ],
        "segments": {
            dim: [
                {"value": _plain(getattr(row, dim)), **_figures(row, money=False)}
                for row in aggregate_bills(
                    cube, segments, start, end, [dim], include_immature
                ).itertuples(index=False)
            ]
            for dim in DIMENSIONS
        },
        "actions": [
            {"action": str(row.action), "count": int(row.count)}
            for row in actions.itertuples(index=False)
        ],
        "bucket_edges": list(cube.arrears.buckets.edges),
        "ageing": [
            {
                "month": row.month.strftime("%Y-%m"),
                "bucket": str(row.bucket),
                "customers": int(row.customers),
                "arrears": round(float(row.arrears), 2),
            }
            for row in ledger.ageing(cube, segments, start, end).itertuples(index=False)
        ],
        "uplift": [
            {key: _plain_value(value) for key, value in row.items()}
            for row in ledger.action_uplift(cube, segments, start, end).to_dict("records")
        ],
        "movement": [
            {
                "month": row["month"].strftime("%Y-%m"),
                **{name: round(float(row[name]), 2) for name in ledger.MOVEMENT_COLUMNS.values()},
            }
            for row in ledger.movement(cube, segments, start, end).to_dict("records")
        ],
        "severe_arrears": severe_summary(cube, segments, start, end),
        "provision": provision_summary(cube, segments, start, end),
        "forecast": forecast_summary(cube, segments, start, end),
    }


def severe_summary(cube: Cube, segments: np.ndarray, start=None, end=None) -> dict:
    """Customers reaching 91+ days past due (:mod:`dashboard.query.severe`).

    Returns
    -------
    dict
        ``period`` (``from_month``, ``to_month``, ``at_risk``, ``reached``,
        ``period_rate``, ``on_book``, ``ever``, ``ever_share``), ``monthly`` (per
        month-end: ``at_risk``, ``reached``, ``reach_rate``, ``on_book``, ``ever``,
        ``ever_share``) and ``by_segment`` (per dimension and value, as ``period``).
    """
    period = _records(severe.severe_period(cube, segments, start, end))
    return {
        "period": period[0] if period else None,
        "monthly": _records(severe.severe_monthly(cube, segments, start, end)),
        "by_segment": {
            dim: _records(severe.severe_period(cube, segments, start, end, by=dim))
            for dim in DIMENSIONS
        },
    }


def provision_summary(cube: Cube, segments: np.ndarray, start=None, end=None) -> dict:
    """Expected credit loss at the last month-end, with the default settings.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None

    Returns
    -------
    dict
        ``month``, ``horizon``, ``lookback``, ``overlay``, ``arrears``, ``ecl`` (pounds),
        ``coverage``; ``matrix`` (per bucket: arrears, loss rate, ECL, method and its
        denominators, :func:`dashboard.query.provision.provision_matrix`), ``by_month``
        (ECL and coverage at each month-end with the rates known then) and ``by_segment``
        (per dimension and value).
    """
    matrix = provision.provision_matrix(cube, segments, start, end)
    monthly = provision.provision_by_month(cube, segments, start, end)
    arrears, ecl = float(matrix["balance"].sum()), float(matrix["ecl"].sum())
    return {
        "month": _month_text(matrix["month"].iloc[0]) if len(matrix) else None,
        **{key: matrix.attrs.get(key) for key in ("horizon", "lookback", "overlay")},
        "arrears": round(arrears, 2),
        "ecl": round(ecl, 2),
        "coverage": _rate(ecl / arrears) if arrears > 0 else None,
        "matrix": _records(matrix),
        "by_month": _records(monthly),
        "by_segment": {
            dim: _records(provision.provision_by_segment(cube, segments, start, end, by=dim))
            for dim in DIMENSIONS
        },
    }


def forecast_summary(cube: Cube, segments: np.ndarray, start=None, end=None) -> dict:
    """The arrears forecast from the last month-end and its backtest (default settings).

    Returns
    -------
    dict
        ``origin`` (the last month-end seen), ``lookback``, ``months`` (per forecast month
        and past-due bucket: customers, arrears and the 10-90% band,
        :func:`dashboard.query.forecast.forecast`) and ``backtest`` (per horizon: forecasts
        compared and the mean absolute percentage errors of arrears £ and customers).
    """
    frame = forecast.forecast(cube, segments, start, end)
    actual = frame.loc[frame["kind"] == "actual", "month"]
    ahead = frame.loc[frame["kind"] == "forecast"]
    keep = ["month", "horizon", "bucket", "customers", "arrears"]
    keep += ["customers_low", "customers_high", "arrears_low", "arrears_high"]
    tested = forecast.backtest_summary(forecast.backtest(cube, segments, start, end))
    return {
        "origin": _month_text(actual.iloc[-1]) if len(actual) else None,
        "lookback": frame.attrs.get("lookback"),
        "months": _records(ahead[keep]),
        "backtest": _records(tested),
    }


def _month_text(month) -> str:
    """The month-end's month as ``YYYY-MM``."""
    return pd.Timestamp(month).strftime("%Y-%m")


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON values: months as ``YYYY-MM``, money in pounds to the penny, rates
    rounded, NaN as None."""
    money = {"balance", "ecl", "arrears", "history_balance", "history_written_off"}
    money |= {"arrears_low", "arrears_high"}
    rows = []
    for row in frame.to_dict("records"):
        out = {}
        for key, value in row.items():
            if key in ("month", "from_month", "to_month"):
                out[key] = _month_text(value)
            elif isinstance(value, str) or not hasattr(value, "__float__"):
                out[key] = _plain(value) if not isinstance(value, str) else value
            elif key in money:
                out[key] = None if math.isnan(float(value)) else round(float(value), 2)
            else:
                out[key] = _plain_value(value)
        rows.append(out)
    return rows


def format_summary(summary: dict) -> str:
    """Render the summary dict as readable text tables.

    Parameters
    ----------
    summary : dict
        From :func:`portfolio_summary`.

    Returns
    -------
    str
    """
    window = summary["window"]
    counted = "all bills" if summary["include_immature"] else "mature bills only"
    lines = [
        f"As of {summary['as_of']}; window {window['before']} days before to "
        f"{window['after']} after the due date; tolerance £{window['tolerance']:.2f}; "
        f"default rates count {counted}.",
        "",
        _table([{"": "Overall", **summary["overall"]}], money=True),
        "",
        "Monthly",
        _table(
            [
                {"month": m["month"] + ("" if m["mature"] else " *"), **_without(m, "month")}
                for m in summary["monthly"]
            ],
            money=True,
        ),
        "* not every bill of the month is mature yet",
    ]
    for dim, rows in summary["segments"].items():
        lines += [
            "",
            f"By {dim}",
            _table([{dim: r["value"], **_without(r, "value")} for r in rows]),
        ]
    lines += ["", "Actions", _table(summary["actions"])]
    if summary["ageing"]:
        last = summary["ageing"][-1]["month"]
        rows = [
            {"bucket": a["bucket"], "customers": a["customers"], "arrears": a["arrears"]}
            for a in summary["ageing"]
            if a["month"] == last
        ]
        lines += ["", f"Arrears by days past due at the month-end of {last}", _table(rows)]
    if summary["movement"]:
        lines += [
            "",
            "How arrears moved (last 12 months; closing = opening + fell due - cash - written "
            "off + other adjustments, net of credit)",
            _table(summary["movement"][-12:]),
        ]
    period = (summary.get("severe_arrears") or {}).get("period")
    if period and period["period_rate"] is not None:
        ever = "—" if period["ever_share"] is None else f"{period['ever_share']:.1%}"
        lines += [
            "",
            f"Reaching 90+ days past due: {period['reached']:,} of the {period['at_risk']:,} "
            f"customers under 91 days at the end of {period['from_month']} "
            f"({period['period_rate']:.1%}) by the end of {period['to_month']}; ever 90+: "
            f"{period['ever']:,} of {period['on_book']:,} on book ({ever})",
        ]
    lines += _forward_lines(summary)
    return "\n".join(lines)


def _forward_lines(summary: dict) -> list[str]:
    """The provision matrix and the forecast backtest as text (when present)."""
    lines = []
    ecl = summary.get("provision") or {}
    if ecl.get("matrix"):
        rows = [
            {
                "bucket": r["bucket"],
                "arrears": r["balance"],
                "loss rate": "—" if r["loss_rate"] is None else f"{r['loss_rate']:.1%}",
                "ECL": f"£{r['ecl']:,.2f}",
                "method": r["method"],
            }
            for r in ecl["matrix"]
        ]
        lines += [
            "",
            f"Expected credit loss at the month-end of {ecl['month']}: £{ecl['ecl']:,.2f} "
            f"(write-off horizon {ecl['horizon']} months, {ecl['lookback']} month-ends pooled)",
            _table(rows),
        ]
    tested = (summary.get("forecast") or {}).get("backtest") or []
    if tested:
        rows = [
            {
                "months ahead": r["horizon"],
                "forecasts": r["origins"],
                "MAPE arrears": "—" if r["arrears_mape"] is None else f"{r['arrears_mape']:.1%}",
                "MAPE customers": "—"
                if r["customers_mape"] is None
                else f"{r['customers_mape']:.1%}",
            }
            for r in tested
        ]
        lines += ["", "Arrears forecast backtest (made at every past month-end)", _table(rows)]
    return lines


def _figures(row, money: bool) -> dict:
    figures = {
        "bills": int(row.counted_bills),
        "defaults": int(row.counted_defaults),
        "default_rate": _rate(row.default_rate),
    }
    if money:
        figures["billed"] = round(float(row.billed), 2)
        figures["paid_in_window"] = round(float(row.paid_in_window), 2)
    return figures


def _plain_value(value: object) -> object:
    """A JSON value: rates rounded, NaN as None, NumPy numbers as Python ones."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    return _rate(float(value))


def _mature(row) -> bool:
    return bool(row.mature)


def _rate(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), RATE_DIGITS)


def _plain(value: object) -> object:
    return int(value) if hasattr(value, "item") and not isinstance(value, str) else value


def _without(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k not in (key, "mature")}


def _table(rows: list[dict], money: bool = False) -> str:
    if not rows:
        return "(no data for this selection)"
    frame = pd.DataFrame(rows)
    formats = {
        "default_rate": lambda v: "—" if v is None or pd.isna(v) else f"{v:.1%}",
        "billed": lambda v: f"£{v:,.2f}",
        "paid_in_window": lambda v: f"£{v:,.2f}",
        "bills": lambda v: f"{v:,}",
        "defaults": lambda v: f"{v:,}",
        "count": lambda v: f"{v:,}",
        "customers": lambda v: f"{v:,}",
        "arrears": lambda v: f"£{v:,.2f}",
        **{name: (lambda v: f"£{v:,.0f}") for name in ledger.MOVEMENT_COLUMNS.values()},
    }
    for column, fmt in formats.items():
        if column in frame:
            frame[column] = frame[column].map(fmt, na_action=None)
    return frame.to_string(index=False)
