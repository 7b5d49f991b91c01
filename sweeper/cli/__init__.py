"""The ``sweeper`` command line."""

from sweeper.cli.app import app, main

__all__ = ["app", "main"]
