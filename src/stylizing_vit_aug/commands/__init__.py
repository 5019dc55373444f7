"""Implementations of the ``stylizing-vit-aug`` subcommands (one module each; see ``cli.py``)."""
