"""``python -m reference_server [OPTIONS]``: the server alone (same options as ``durable server``),
without loading the rest of the ``durable`` command line."""

from __future__ import annotations

import sys

import typer

from .cli import register

app = typer.Typer(add_completion=False)
register(app)


@app.callback()
def _root() -> None:
    """Reference server of the Durable Execution Protocol."""


if __name__ == "__main__":
    app(["server", *sys.argv[1:]])
