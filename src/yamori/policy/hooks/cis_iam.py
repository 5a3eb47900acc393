"""Hooks for CIS AWS Foundations cis_iam checks (filled in as the policies are written)."""
