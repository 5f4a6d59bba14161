"""Shared fixtures: a throwaway project folder, the legacy seeds, a private template cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.project import LEGACY_SEEDS, Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)


@pytest.fixture(scope="session")
def legacy_seeds() -> Path:
    if not LEGACY_SEEDS.is_dir():
        raise RuntimeError(f"the legacy seeds are missing: {LEGACY_SEEDS}")
    return LEGACY_SEEDS


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled-template caches of throwaway projects stay out of the user's ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
