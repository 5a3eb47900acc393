"""Falco-compatible detection: rules files, conditions, compilation and matching."""
