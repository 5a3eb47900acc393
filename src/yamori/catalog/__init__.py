"""Catalogers: one module per file format, each registered with `@register`.

Importing this package imports every built-in cataloger module so that they register.
"""

from importlib import import_module

_BUILTIN = [
    "osrelease",
    "dpkg",
    "apk",
    "rpm",
    "python",
    "node",
    "golang",
    "java",
    "ruby",
    "rust",
]

for _module in _BUILTIN:
    import_module(f"yamori.catalog.{_module}")
