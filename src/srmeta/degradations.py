"""Either kind of degradation from its written form: one entry point for every place that
takes a degradation (config values, ``--degradation``, eval summaries read back).

A spec is the classic model (:class:`~srmeta.degrade.Degradation`, e.g. ``"blur:iso:1.2
noise:5"``) unless it starts with the word ``realistic`` (a string) or says
``kind: realistic`` (a mapping or YAML file): then it is the Real-ESRGAN-like chain
(:class:`~srmeta.degrade_real.RealisticDegradation`). Classic specs are read exactly as
before, so their keys and cache folders do not change.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from srmeta.degrade import Degradation, is_spec_file, read_spec_file
from srmeta.degrade_real import RealisticDegradation
from srmeta.errors import DegradationError

AnyDegradation: TypeAlias = Degradation | RealisticDegradation
"""What applies a degradation: ``apply``, ``to_string``, ``key``, ``name``."""
KINDS = ("classic", "realistic")


def degradation_from_dict(data: dict[str, Any]) -> AnyDegradation:
    """A mapping of fields; ``kind`` (``classic``, the default, or ``realistic``) picks the
    model, and is left out of a classic spec so that its key stays what it was."""
    kind = data.get("kind", "classic")
    if kind == "realistic":
        return RealisticDegradation.from_dict(data)
    if kind != "classic":
        raise DegradationError(
            f"unknown degradation kind {kind!r}; choose one of {', '.join(KINDS)}"
        )
    return Degradation.from_dict({k: v for k, v in data.items() if k != "kind"})


def parse_degradation(spec: str) -> AnyDegradation:
    """A short string of either kind, or the path of a YAML file (``.yaml`` / ``.yml``)
    holding a mapping for :func:`degradation_from_dict`."""
    if is_spec_file(spec):
        return degradation_from_dict(read_spec_file(spec))
    if spec.split()[:1] == ["realistic"]:
        return RealisticDegradation.parse(spec)
    return Degradation.parse(spec)
