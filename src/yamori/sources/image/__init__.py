"""Image sources: registry, OCI layout, docker archive, containers-storage."""
