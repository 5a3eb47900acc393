"""Python hooks for checks the condition language cannot express.

Importing this package registers the shipped hooks; a new family is one module here that calls
:func:`register_hook`, plus one import line below.
"""

from yamori.policy.hooks import cis_iam, cis_logging, docker, generic, iam, kubernetes
from yamori.policy.hooks.registry import HookSpec, get_hook, hook_names, register_hook, unregister_hook

__all__ = [
    "HookSpec",
    "cis_iam",
    "cis_logging",
    "docker",
    "generic",
    "get_hook",
    "hook_names",
    "iam",
    "kubernetes",
    "register_hook",
    "unregister_hook",
]
