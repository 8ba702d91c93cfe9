"""Ready-made pipelines built on the solutions; run them by reference or copy them."""
