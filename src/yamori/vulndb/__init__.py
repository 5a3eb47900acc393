"""Vulnerability database and matching (issue 3). So far: the version schemes."""
