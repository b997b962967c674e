"""``python -m benchmarks bench ...``: the bench command without the ``durable`` console script."""

import typer

from benchmarks.cli import register

app = typer.Typer(add_completion=False)
register(app)


@app.callback()
def _root() -> None:
    """Benchmarks (kept a group so the command is ``bench`` as under ``durable``)."""


app()
