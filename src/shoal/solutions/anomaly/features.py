"""Features of a 5-minute count series: level, change, deviation from recent mean, time of day."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ("count", "change", "vs_recent", "tod_sin", "tod_cos")
RECENT_BUCKETS = 6  # half an hour of 5-minute buckets


def bucket_features(counts: pd.Series) -> pd.DataFrame:
    """One row per bucket of ``counts`` (a Series indexed by timestamp), float64 columns.

    Only past and present buckets feed each row, so the same features can be computed online.
    """
    if not isinstance(counts.index, pd.DatetimeIndex):
        raise TypeError("counts must be indexed by timestamps")
    values = counts.astype("float64")
    recent = values.rolling(RECENT_BUCKETS, min_periods=1).mean().shift(1).fillna(values)
    minutes = counts.index.hour * 60 + counts.index.minute
    angle = 2 * np.pi * np.asarray(minutes, dtype="float64") / (24 * 60)
    return pd.DataFrame(
        {
            "count": values.to_numpy(),
            "change": values.diff().fillna(0.0).to_numpy(),
            "vs_recent": (values / recent.clip(lower=1.0)).to_numpy(),
            "tod_sin": np.sin(angle),
            "tod_cos": np.cos(angle),
        },
        index=counts.index,
    )
