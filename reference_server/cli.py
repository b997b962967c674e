"""``durable server``: run the reference server (the admin client commands live in durable.admin_cli)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from .config import ServerConfig
from .core.model import RetryPolicy
from .durations import parse_duration_ms


def register(app: typer.Typer) -> None:
    """Add the server commands to the top-level app."""

    @app.command("server")
    def server(
        data_dir: Annotated[Path, typer.Option(help="Where the SQLite store lives.")] = Path(".durable"),
        ingress_port: Annotated[int, typer.Option(help="Ingress port (0: any free port).")] = 8080,
        admin_port: Annotated[int, typer.Option(help="Admin port (0: any free port).")] = 9070,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        always_suspend: Annotated[bool, typer.Option(help="Always send the full journal (the SDK replays at every wait)."
        )] = False,
        streaming: Annotated[bool, typer.Option(help="Use the streaming mode with deployments that declare BIDI_STREAM "
                                                "(--no-streaming: one HTTP request per attempt).",
                                                envvar="DURABLE_STREAMING")] = True,
        retention: Annotated[str, typer.Option(help="Keep results and idempotency entries this long.")] = "1d",
        retry_initial: Annotated[str, typer.Option(help="Default retry: first interval.")] = "100ms",
        retry_max: Annotated[str, typer.Option(help="Default retry: largest interval.")] = "10s",
        retry_factor: Annotated[float, typer.Option(help="Default retry: growth factor.")] = 2.0,
        retry_attempts: Annotated[int, typer.Option(help="Default retry: max attempts (0: unlimited).")] = 0,
        log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
        loop: Annotated[str, typer.Option(help="Event loop: auto (uvloop when installed), asyncio or uvloop."
        )] = "auto",
    ) -> None:
        """Start the reference server (ingress + admin) on 127.0.0.1."""
        from .server import Server, loop_factory, quiet_cancellations

        try:
            new_loop = loop_factory(loop)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--loop") from exc
        except ImportError as exc:
            raise typer.BadParameter(f"uvloop is not installed ({exc})", param_hint="--loop") from exc

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if log_level.lower() != "debug":
            logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            config = ServerConfig(
                data_dir=data_dir,
                host=host,
                ingress_port=ingress_port,
                admin_port=admin_port,
                always_suspend=always_suspend,
                streaming=streaming,
                exit_on_store_failure=True,
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
            asyncio.get_running_loop().set_exception_handler(quiet_cancellations)
            srv = Server(config)
            await srv.start()
            print(f"ingress {srv.ingress_url}  admin {srv.admin_url}  data {data_dir}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await srv.stop()

        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(main())
