"""Data access: SQL over the team's Parquet/CSV data with DuckDB, every query audited."""
