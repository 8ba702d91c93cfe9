"""SQL over the team's data.

DuckDB over Parquet/CSV in the artifact store or a folder, every query audited.
"""
