"""Hooks for CIS AWS Foundations cis_logging checks (filled in as the policies are written)."""
