"""What verification found, as a typed report stored with the request (a JSON column)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from connectors.base import ResidualCopy

__all__ = ["SystemCheck", "VerificationReport"]


class SystemCheck(BaseModel):
    """One system's answer to "is the person gone?"."""

    model_config = ConfigDict(frozen=True)

    absent: bool | None  # None: the system could not be asked (unreachable, not configured)
    detail: str = ""  # safe text: counts and dates, never a value
    remaining: int = 0  # live objects still answering to the person's identifiers


class VerificationReport(BaseModel):
    """Per-system checks, the residual copies that outlive the erasure, and what failed."""

    model_config = ConfigDict(frozen=True)

    systems: dict[str, SystemCheck] = {}
    residuals: tuple[ResidualCopy, ...] = ()
    failed_step: str | None = None  # e.g. "verification in ad"; None when every check passed

    @property
    def failing(self) -> bool:
        return self.failed_step is not None

    def still_present(self) -> list[str]:
        """Systems whose check saw the person live."""
        return [name for name, check in self.systems.items() if check.absent is False]

    def audit_systems(self) -> dict[str, Any]:
        return {name: check.model_dump() for name, check in self.systems.items()}
