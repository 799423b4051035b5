"""Settings of the WATS emulator: users, behaviour switches and the seeded process table."""

from __future__ import annotations

__all__ = ["EmulatorProcess", "EmulatorSettings"]

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class EmulatorProcess(BaseModel):
    """One row of the emulator's process (operation) table, served by ``/api/App/Processes``.

    Attributes:
        code: the process code reports carry in ``processCode``.
        name: the process name, copied into report headers as ``processName``.
        kind: ``"test"`` (UUT operations), ``"repair"`` (UUR operations) or ``"wip"``.
        description: free text.
        active: inactive processes are listed only with ``includeInactiveProcesses=true``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: int
    name: str
    kind: Literal["test", "repair", "wip"] = "test"
    description: str = ""
    active: bool = True


DEFAULT_PROCESSES: tuple[EmulatorProcess, ...] = (
    EmulatorProcess(code=10, name="SW Debug", description="Software debug runs"),
    EmulatorProcess(code=50, name="PCBA Test", description="In-circuit and board test"),
    EmulatorProcess(code=100, name="Final Function Test", description="End-of-line test"),
    EmulatorProcess(code=90, name="Burn-in", description="Retired burn-in", active=False),
    EmulatorProcess(code=500, name="Repair", kind="repair", description="Repair of failed units"),
    EmulatorProcess(code=1000, name="Assembly", kind="wip", description="Box build"),
)
"""The processes the emulator starts with (test 10, 50, 100, inactive 90, repair 500, WIP 1000)."""


class EmulatorSettings(BaseModel):
    """How the WATS emulator behaves.

    Every field has a default, so ``EmulatorSettings()`` gives a working emulator that accepts
    ``Authorization: Basic base64("wats:wats")``. Strings passed for the secret fields are
    turned into pydantic ``SecretStr`` values (hidden in ``repr`` and logs);
    ``credentials()`` lists every user as name to (password, may write).

    Attributes:
        username: the user every request may authenticate as.
        password: that user's password (or API token).
        users: more read-write users, name to password.
        read_only_users: users that may read but get 403 on any write.
        accept_any_token: accept any ``Authorization: Basic ...`` value (smoke tests); a
            missing header still answers 401.
        strict: reject unknown top-level WSJF keys (real WATS ignores them).
        require_known_process: reject reports whose ``processCode`` is not in ``processes``.
        auto_create: create the product, revision and unit of a submitted report when they do
            not exist, as WATS does.
        require_referer: answer 400 to ``/api/internal/*`` calls without a ``Referer`` header.
        version: what ``GET /api/App/Version`` answers.
        processes: the process table.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(default="wats", min_length=1)
    password: SecretStr | str = SecretStr("wats")
    users: dict[str, SecretStr | str] = Field(default_factory=dict)
    read_only_users: dict[str, SecretStr | str] = Field(default_factory=dict)
    accept_any_token: bool = False
    strict: bool = False
    require_known_process: bool = False
    auto_create: bool = True
    require_referer: bool = False
    version: str = Field(default="2026.3.0", min_length=1)
    processes: tuple[EmulatorProcess, ...] = DEFAULT_PROCESSES

    @field_validator("password", mode="after")
    @classmethod
    def _secret(cls, value: SecretStr | str) -> SecretStr:
        return value if isinstance(value, SecretStr) else SecretStr(value)

    @field_validator("users", "read_only_users", mode="after")
    @classmethod
    def _secrets(cls, value: dict[str, SecretStr | str]) -> dict[str, SecretStr | str]:
        return {k: v if isinstance(v, SecretStr) else SecretStr(v) for k, v in value.items()}

    def credentials(self) -> dict[str, tuple[str, bool]]:
        """Every configured user: name to (password, may write)."""
        table: dict[str, tuple[str, bool]] = {}
        for name, secret in self.read_only_users.items():
            table[name] = (_reveal(secret), False)
        for name, secret in self.users.items():
            table[name] = (_reveal(secret), True)
        table[self.username] = (_reveal(self.password), True)
        return table


def _reveal(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
