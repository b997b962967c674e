"""The ``durable`` console script: one typer app that mounts each package's commands."""

from __future__ import annotations

import typer

from benchmarks.cli import register as register_bench
from conformance.cli import app as conformance_app
from durable.admin_cli import register as register_admin
from fuzz.cli import register as register_fuzz
from reference_server.cli import register as register_server

app = typer.Typer(
    name="durable",
    help="Durable Execution Protocol: reference server, conformance kit, fuzzer and tools.",
    no_args_is_help=True,
    add_completion=False,
)
register_server(app)
register_fuzz(app)
register_admin(app)
register_bench(app)
app.add_typer(conformance_app, name="conformance", help="Run the conformance kit.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
