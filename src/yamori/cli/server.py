"""``yamori server``: run the API; ``token create|list|revoke``; ``submit FILE``.

``yamori server`` migrates the store, creates and prints an admin token the first time (there
is no other way in), then serves on 127.0.0.1:8470 unless told otherwise. Token commands work
on the database directly, so an admin who lost every token can issue a new one on the host.
The server imports (FastAPI, SQLAlchemy, uvicorn) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

EXIT_INPUT_ERROR = 2
DB_HELP = "Database URL: sqlite:///FILE or postgresql://user@host/db (default: SQLite in the data dir)."


def _fail(message: str) -> click.exceptions.Exit:
    click.echo(f"yamori: error: {message}", err=True)
    return click.exceptions.Exit(EXIT_INPUT_ERROR)


def _store(db: str | None) -> Any:
    from yamori.store import StoreError, open_store

    try:
        return open_store(db)
    except StoreError as exc:
        raise _fail(str(exc)) from None


@click.group(invoke_without_command=True)
@click.option("--db", envvar="YAMORI_SERVER_DB", help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True)
@click.option(
    "--max-body-mb", type=click.IntRange(1, 4096), default=50, show_default=True, help="Largest submission."
)
@click.pass_context
def server(ctx: click.Context, db: str | None, host: str, port: int, max_body_mb: int) -> None:
    """Run the yamori server (REST API over the store)."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from yamori.server import ServerSettings, create_app, ensure_admin_token

    settings = ServerSettings(db_url=db, host=host, port=port, max_body_bytes=max_body_mb * 1024 * 1024)
    store = _store(db)
    issued = ensure_admin_token(store)
    if issued is not None:
        click.echo(
            f"yamori: created admin token {issued.name!r} (shown once, keep it safe):\n{issued.secret}"
        )
    app = create_app(settings, store=store)
    click.echo(f"yamori: serving on http://{host}:{port}/api/v1 (store: {store.engine.url!r})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@server.group()
def token() -> None:
    """Manage API tokens (directly in the database)."""


def _db(ctx: click.Context, db: str | None) -> str | None:
    return db or (ctx.obj or {}).get("db")


@token.command("create")
@click.option("--role", type=click.Choice(["admin", "analyst", "viewer", "agent"]), required=True)
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option("--db", envvar="YAMORI_SERVER_DB", help=DB_HELP)
@click.pass_context
def token_create(ctx: click.Context, role: str, name: str, db: str | None) -> None:
    """Create a token and print it (the only time it is shown)."""
    from yamori.store.tokens import TokenError, create_token

    store = _store(_db(ctx, db))
    try:
        with store.session() as session:
            issued = create_token(session, name, role)
    except TokenError as exc:
        raise _fail(str(exc)) from None
    click.echo(f"id {issued.id}, role {issued.role}, name {issued.name!r}; token (shown once):", err=True)
    click.echo(issued.secret)


@token.command("list")
@click.option("--db", envvar="YAMORI_SERVER_DB", help=DB_HELP)
@click.pass_context
def token_list(ctx: click.Context, db: str | None) -> None:
    """List tokens (never their secrets)."""
    from yamori.store.tokens import list_tokens, token_to_json

    store = _store(_db(ctx, db))
    with store.session() as session:
        rows = [token_to_json(row) for row in list_tokens(session)]
    click.echo(f"{'ID':>4}  {'ROLE':8} {'NAME':24} {'CREATED':28} {'LAST USED':28} REVOKED")
    for row in rows:
        click.echo(
            f"{row['id']:>4}  {row['role']!s:8} {row['name']!s:24} {row['created_at']!s:28} "
            f"{row['last_used'] or '-'!s:28} {row['revoked_at'] or '-'}"
        )


@token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--db", envvar="YAMORI_SERVER_DB", help=DB_HELP)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int, db: str | None) -> None:
    """Revoke token ID at once (every replica checks revocation on each request)."""
    from yamori.store.tokens import TokenError, revoke_token

    store = _store(_db(ctx, db))
    try:
        with store.session() as session:
            revoke_token(session, token_id)
    except TokenError as exc:
        raise _fail(str(exc)) from None
    click.echo(f"revoked token {token_id}")


@server.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["image", "posture", "alerts", "workloads"]), required=True)
@click.option("--server", "server_url", envvar="YAMORI_SERVER", required=True, help="Server URL.")
@click.option("--token", envvar="YAMORI_TOKEN", required=True, help="API token (agent or admin).")
def submit(file: Path, kind: str, server_url: str, token: str) -> None:
    """Submit FILE (the output of `yamori image|cloud aws -f json` or `yamori detect --format json`)."""
    from yamori.server_client import SubmitError, submit_scan

    data = file.read_bytes()
    if kind != "alerts":
        import orjson

        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise _fail(f"{file}: not JSON: {exc}") from None
    try:
        answer = submit_scan(server_url, token, data, kind=kind)  # type: ignore[arg-type]
    except SubmitError as exc:
        raise _fail(str(exc)) from None
    import json

    click.echo(json.dumps(answer, indent=2))
