"""`yamori iac`: scanning infrastructure code (Terraform, CloudFormation, and whatever else the
adapter registry in ``yamori.sources.iac`` knows) against the same policies as the live cloud.

``scan`` orchestrates a run, ``skips`` reads inline ``yamori:ignore`` declarations, ``baseline``
records and applies accepted findings. The CLI (``yamori.cli.iac``) only parses arguments and
writes the result.
"""
