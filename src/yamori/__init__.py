"""yamori: one tool for cloud and container security."""

__version__ = "0.1.0"
