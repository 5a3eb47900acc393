"""Errors that name what was wrong with the input; the CLI prints them as one line."""


class ScanError(Exception):
    """Input that cannot be scanned (bad archive, missing blob, auth failure…).

    The message is a complete sentence for the user; the CLI adds the target's name.
    """
