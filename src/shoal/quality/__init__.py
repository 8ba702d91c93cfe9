"""Data-quality expectations on DataFrames, with a report per run."""
