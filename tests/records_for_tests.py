"""Record classes shared by the tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic

from volnux_actors import BackendIntegrationMixin


@dataclasses.dataclass
class User(BackendIntegrationMixin):
    id: str
    name: str
    age: int = 0
    active: bool = True


@dataclasses.dataclass
class Run(BackendIntegrationMixin):
    id: str
    status: str


@dataclasses.dataclass
class Loose(BackendIntegrationMixin):
    """A dataclass record without its own id field."""

    name: str
    score: Any = None
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Anything(BackendIntegrationMixin):
    id: str
    value: Any


class Account(pydantic.BaseModel, BackendIntegrationMixin):
    id: str
    owner: str
    balance: float = 0.0
    labels: list[str] = []
