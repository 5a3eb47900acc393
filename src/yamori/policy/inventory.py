"""`Inventory`: every resource of one evaluation, indexed for policies and hooks.

Why an index: a policy runs only over resources of its kinds, and hooks that join resources
(trail -> log group -> metric filter -> alarm) need lookups by id and by account/region rather than
scans of the whole snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from yamori.model.resource import CollectionError, Resource

__all__ = ["Inventory"]


class Inventory:
    """Resources indexed by kind, by id and by (account, region), plus the collection errors."""

    def __init__(self, resources: Iterable[Resource], errors: Iterable[CollectionError] = ()) -> None:
        self.resources: list[Resource] = list(resources)
        self.errors: list[CollectionError] = list(errors)
        self._by_kind: dict[str, list[Resource]] = defaultdict(list)
        self._by_id: dict[str, Resource] = {}
        self._by_place: dict[tuple[str, str], list[Resource]] = defaultdict(list)
        for r in self.resources:
            self._by_kind[r.kind].append(r)
            self._by_id.setdefault(r.id, r)
            self._by_place[(r.account, r.region)].append(r)
        self._errors_by_kind: dict[str, list[CollectionError]] = defaultdict(list)
        for e in self.errors:
            self._errors_by_kind[e.kind].append(e)

    def __len__(self) -> int:
        return len(self.resources)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def kinds(self) -> list[str]:
        return list(self._by_kind)

    def by_kind(self, kind: str, account: str | None = None, region: str | None = None) -> list[Resource]:
        """Resources of ``kind``, optionally only in ``account`` and/or ``region``."""
        found = self._by_kind.get(kind, [])
        if account is None and region is None:
            return found
        return [
            r
            for r in found
            if (account is None or r.account == account) and (region is None or r.region == region)
        ]

    def get(self, resource_id: str) -> Resource | None:
        """The resource with this id (the first one, if a snapshot repeats an id)."""
        return self._by_id.get(resource_id)

    def find(self, kind: str, *, account: str | None = None, name: str | None = None) -> list[Resource]:
        """Resources of ``kind`` whose id or name equals ``name`` (when given)."""
        return [r for r in self.by_kind(kind, account) if name is None or name in (r.id, r.name)]

    def in_place(self, account: str, region: str) -> list[Resource]:
        """Every resource in one account and region (``""`` for global resources)."""
        return self._by_place.get((account, region), [])

    def errors_for(self, kind: str) -> list[CollectionError]:
        """Listings of ``kind`` that failed as a whole."""
        return self._errors_by_kind.get(kind, [])

    def accounts(self) -> list[str]:
        """Every account seen in resources or errors, in first-seen order."""
        seen: dict[str, None] = {}
        for r in self.resources:
            seen.setdefault(r.account, None)
        for e in self.errors:
            seen.setdefault(e.account, None)
        return list(seen)
