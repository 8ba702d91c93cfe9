"""The ``shoal`` command line: ``shoal <noun> <verb>``; the only package that prints."""
