"""Workloads: what runs on a host right now, as an inventory the server keeps.

A workload report lists the containers of one host's runtime with what a security team asks of
them: which image (so the image's vulnerabilities and packages in use apply), which labels and
Kubernetes pod, privileged or not. ``podman.py`` reads podman; the report shape is
``WorkloadReport`` (what ``yamori workloads -f json`` prints and ``POST
/api/v1/scans/workloads`` takes).
"""

from yamori.sources.workloads.podman import WorkloadError, collect_podman, workload_from_inspect

__all__ = ["WorkloadError", "collect_podman", "workload_from_inspect"]
