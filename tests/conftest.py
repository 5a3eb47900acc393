"""Shared fixtures. Each real component has its own module under tests/support/."""

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "support.registry",
    "support.images",
    "support.moto",
]

# Slow artefacts (Debian root filesystems, built images) are cached across runs here.
TEST_CACHE = Path(os.environ.get("YAMORI_TEST_CACHE", Path.home() / ".cache" / "yamori-test"))


@pytest.fixture(scope="session")
def test_cache() -> Path:
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CACHE


@pytest.fixture
def yamori_cache(tmp_path: Path) -> Path:
    """A private layer cache for one test, so tests never share cached results."""
    path = tmp_path / "yamori-cache"
    path.mkdir()
    return path
