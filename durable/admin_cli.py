"""Admin-API client commands: ``durable invocations | deployments | services | state``.

They speak only the admin HTTP API (spec/06-admin.md), so they work against any server that
implements it. Output is a readable table by default and the raw JSON with ``--json``; errors
from the server are printed as its ``{"code", "message"}`` body and exit with status 1.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

DEFAULT_ADMIN = "http://127.0.0.1:9070"

AdminOpt = Annotated[str, typer.Option("--admin", help="Admin API base URL.", envvar="DURABLE_ADMIN_URL")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]

console = Console()
invocations_app = typer.Typer(no_args_is_help=True, help="List, inspect, cancel, kill and purge invocations.")
deployments_app = typer.Typer(no_args_is_help=True, help="Register and list SDK deployments.")
services_app = typer.Typer(no_args_is_help=True, help="List registered services.")
state_app = typer.Typer(no_args_is_help=True, help="Read the state of a virtual object or workflow.")


def _request(method: str, admin: str, path: str, **kwargs: Any) -> Any:
    url = admin.rstrip("/") + path
    try:
        r = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        body = r.json() if r.content else {}
    except ValueError:
        body = {"message": r.text}
    if r.status_code >= 400:
        msg = body.get("message", r.text) if isinstance(body, dict) else r.text
        console.print(f"[red]{r.status_code}[/red] {msg}")
        raise typer.Exit(1)
    return body


def _emit(body: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json or table is None:
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        console.print(table)


def _table(*columns: str) -> Table:
    """A table whose id columns are never truncated (users copy ids into other commands)."""
    table = Table()
    for name in columns:
        if name in ("id", "deployment"):
            table.add_column(name, no_wrap=True, min_width=26)
        else:
            table.add_column(name, overflow="fold")
    return table


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v)


@invocations_app.command("list")
def invocations_list(
    admin: AdminOpt = DEFAULT_ADMIN,
    status: Annotated[str | None, typer.Option(help="Filter by status.")] = None,
    service: Annotated[str | None, typer.Option(help="Filter by service name.")] = None,
    key: Annotated[str | None, typer.Option(help="Filter by key.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List invocations."""
    params = {k: v for k, v in {"status": status, "service": service, "key": key}.items() if v}
    body = _request("GET", admin, "/invocations", params=params)
    table = _table("id", "target", "status", "retries", "created")
    for inv in body.get("invocations", []):
        target = inv.get("target") or "/".join(
            x for x in (inv.get("service"), inv.get("key"), inv.get("handler")) if x
        )
        table.add_row(inv.get("id", ""), _cell(target), _cell(inv.get("status")),
                      _cell(inv.get("retry_count")), _cell(inv.get("created_at")))
    _emit(body, as_json, table)


@invocations_app.command("describe")
def invocations_describe(invocation_id: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Show one invocation with its journal."""
    body = _request("GET", admin, f"/invocations/{invocation_id}")
    if as_json:
        _emit(body, True)
        return
    head = Table(show_header=False)
    for k, v in body.items():
        if k != "journal":
            head.add_row(k, _cell(v))
    console.print(head)
    journal = _table("#", "type", "name", "detail")
    for e in body.get("journal", []):
        detail = {k: v for k, v in e.items() if k not in ("index", "type", "name")}
        journal.add_row(_cell(e.get("index")), _cell(e.get("type")), _cell(e.get("name")), _cell(detail))
    console.print(journal)


def _lifecycle(action: str, invocation_id: str, admin: str, as_json: bool) -> None:
    body = _request("PATCH", admin, f"/invocations/{invocation_id}/{action}")
    if as_json:
        _emit(body, True)
    else:
        console.print(f"{action}: {invocation_id} [green]ok[/green]")


@invocations_app.command("cancel")
def invocations_cancel(invocation_id: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Cancel an invocation (its handlers see a terminal error and may compensate)."""
    _lifecycle("cancel", invocation_id, admin, as_json)


@invocations_app.command("kill")
def invocations_kill(invocation_id: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Kill an invocation at once (no compensation)."""
    _lifecycle("kill", invocation_id, admin, as_json)


@invocations_app.command("purge")
def invocations_purge(invocation_id: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Delete a completed invocation's journal, result and idempotency entry."""
    _lifecycle("purge", invocation_id, admin, as_json)


@deployments_app.command("register")
def deployments_register(uri: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Register an SDK deployment (the server discovers its services)."""
    body = _request("POST", admin, "/deployments", json={"uri": uri})
    table = _table("deployment", "service", "type", "handlers")
    for svc in body.get("services", []):
        handlers = ", ".join(h.get("name", "") for h in svc.get("handlers", []))
        table.add_row(body.get("id", ""), svc.get("name", ""), _cell(svc.get("ty") or svc.get("type")), handlers)
    _emit(body, as_json, table)


@deployments_app.command("list")
def deployments_list(admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """List deployments."""
    body = _request("GET", admin, "/deployments")
    table = _table("id", "uri", "services")
    for d in body.get("deployments", []):
        names = ", ".join(s.get("name", s) if isinstance(s, dict) else str(s) for s in d.get("services", []))
        table.add_row(d.get("id", ""), _cell(d.get("uri")), names)
    _emit(body, as_json, table)


@services_app.command("list")
def services_list(admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """List services and their handlers."""
    body = _request("GET", admin, "/services")
    table = _table("service", "type", "handlers", "deployment")
    for svc in body.get("services", []):
        handlers = ", ".join(h.get("name", "") for h in svc.get("handlers", []))
        table.add_row(svc.get("name", ""), _cell(svc.get("ty") or svc.get("type")), handlers,
                      _cell(svc.get("deployment_id")))
    _emit(body, as_json, table)


@state_app.command("get")
def state_get(service: str, key: str, admin: AdminOpt = DEFAULT_ADMIN, as_json: JsonOpt = False) -> None:
    """Show the state of SERVICE/KEY."""
    body = _request("GET", admin, f"/services/{service}/state/{key}")
    table = _table("key", "value")
    for k, v in sorted((body.get("state") or {}).items()):
        table.add_row(k, _cell(v))
    _emit(body, as_json, table)


def register(app: typer.Typer) -> None:
    app.add_typer(invocations_app, name="invocations")
    app.add_typer(deployments_app, name="deployments")
    app.add_typer(services_app, name="services")
    app.add_typer(state_app, name="state")
