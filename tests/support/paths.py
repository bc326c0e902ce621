"""Where the repository is, for a test that runs its commands or reads its files."""

from pathlib import Path

__all__ = ["REPO"]

REPO = Path(__file__).resolve().parents[2]
