"""The command line: a thin click layer over the library (``casestudy.cli.main`` builds the group)."""

from casestudy.cli.main import cli

__all__ = ["cli"]
