"""``yamori workloads``: the containers running on this host, as an inventory for the server.

Reads podman (``sources/workloads/podman.py``) and prints a table, or the JSON report that
``POST /api/v1/scans/workloads`` takes; with ``--server``/``--token`` it sends the report, so
the console's Workloads tab shows each container with its image's vulnerabilities. Run it from
cron or a systemd timer to keep the inventory current (``yamori up`` refreshes it by itself).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from yamori.server_client import server_options, submit_if_requested

EXIT_INPUT_ERROR = 2


def _table(report: dict[str, Any]) -> str:
    rows = [("NAME", "ID", "IMAGE", "STATE", "PRIV", "NAMESPACE/POD")]
    for w in report["workloads"]:
        pod = f"{w['namespace']}/{w['pod']}" if w["namespace"] or w["pod"] else ""
        rows.append((w["name"], w["id"][:12], w["image"], w["state"], "yes" if w["privileged"] else "", pod))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append(f"{len(report['workloads'])} container(s) on {report['host']} ({report['runtime']})")
    return "\n".join(lines)


@click.command()
@click.option("--all", "-a", "all_containers", is_flag=True, help="Also list stopped containers.")
@click.option(
    "--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--host-name", help="Name of this host in the report (default: the hostname).")
@server_options
def workloads(
    all_containers: bool,
    fmt: str,
    output: Path | None,
    host_name: str | None,
    server_url: str | None,
    token: str | None,
) -> None:
    """List this host's containers (podman) as workloads; --server sends them to a yamori server."""
    from yamori.sources.workloads import WorkloadError, collect_podman

    try:
        report = collect_podman(all_containers=all_containers, host=host_name)
    except WorkloadError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(EXIT_INPUT_ERROR) from None
    text = json.dumps(report, indent=2) if fmt == "json" else _table(report)
    if output is not None:
        output.write_text(text + "\n")
    else:
        click.echo(text)
    submit_if_requested(server_url, token, report, "workloads")
