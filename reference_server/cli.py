"""``durable server`` and admin-API client commands (``durable invocations cancel ID`` ...)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import httpx
import typer

from .config import ServerConfig
from .core.model import RetryPolicy
from .durations import parse_duration_ms


def register(app: typer.Typer) -> None:
    """Add the server commands to the top-level app."""

    @app.command("server")
    def server(
        data_dir: Path = typer.Option(Path(".durable"), help="Where the SQLite store lives."),
        ingress_port: int = typer.Option(8080, help="Ingress port (0: any free port)."),
        admin_port: int = typer.Option(9070, help="Admin port (0: any free port)."),
        host: str = typer.Option("127.0.0.1", help="Address to bind."),
        always_suspend: bool = typer.Option(
            False, help="Always send the full journal (the SDK replays at every wait)."
        ),
        retention: str = typer.Option("1d", help="Keep results and idempotency entries this long."),
        retry_initial: str = typer.Option("100ms", help="Default retry: first interval."),
        retry_max: str = typer.Option("10s", help="Default retry: largest interval."),
        retry_factor: float = typer.Option(2.0, help="Default retry: growth factor."),
        retry_attempts: int = typer.Option(0, help="Default retry: max attempts (0: unlimited)."),
        log_level: str = typer.Option("info", help="debug, info, warning or error."),
    ) -> None:
        """Start the reference server (ingress + admin) on 127.0.0.1."""
        from .server import Server

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            config = ServerConfig(
                data_dir=data_dir,
                host=host,
                ingress_port=ingress_port,
                admin_port=admin_port,
                always_suspend=always_suspend,
                retention_ms=parse_duration_ms(retention),
                retry=RetryPolicy(
                    initial_interval_ms=parse_duration_ms(retry_initial),
                    factor=retry_factor,
                    max_interval_ms=parse_duration_ms(retry_max),
                    max_attempts=retry_attempts or None,
                ),
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc

        async def main() -> None:
            srv = Server(config)
            await srv.start()
            print(f"ingress {srv.ingress_url}  admin {srv.admin_url}  data {data_dir}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await srv.stop()

        asyncio.run(main())

    invocations = typer.Typer(no_args_is_help=True, help="Inspect and control invocations.")
    app.add_typer(invocations, name="invocations")

    def _admin(method: str, path: str, admin_url: str) -> None:
        resp = httpx.request(method, f"{admin_url.rstrip('/')}{path}", timeout=30)
        try:
            print(json.dumps(resp.json(), indent=2))
        except ValueError:
            print(resp.text)
        if resp.status_code >= 400:
            raise typer.Exit(1)

    admin_opt = typer.Option("http://127.0.0.1:9070", help="Admin API URL.")

    @invocations.command("cancel")
    def cancel(invocation_id: str, admin_url: str = admin_opt) -> None:
        """Cancel an invocation (its handler sees a terminal error and may compensate)."""
        _admin("PATCH", f"/invocations/{invocation_id}/cancel", admin_url)

    @invocations.command("kill")
    def kill(invocation_id: str, admin_url: str = admin_opt) -> None:
        """Kill an invocation now (no compensation)."""
        _admin("PATCH", f"/invocations/{invocation_id}/kill", admin_url)

    @invocations.command("purge")
    def purge(invocation_id: str, admin_url: str = admin_opt) -> None:
        """Forget a completed invocation."""
        _admin("PATCH", f"/invocations/{invocation_id}/purge", admin_url)

    @invocations.command("describe")
    def describe(invocation_id: str, admin_url: str = admin_opt) -> None:
        """Show an invocation and its journal."""
        _admin("GET", f"/invocations/{invocation_id}", admin_url)

    @invocations.command("list")
    def list_(
        status: str = typer.Option("", help="Filter by status."),
        service: str = typer.Option("", help="Filter by service."),
        admin_url: str = admin_opt,
    ) -> None:
        """List invocations."""
        query = "&".join(f"{k}={v}" for k, v in (("status", status), ("service", service)) if v)
        _admin("GET", f"/invocations?{query}", admin_url)
