"""SR architectures, the registry that maps names to them, and their weight files."""

from srmeta.models.files import (
    ModelSpec,
    detect_architecture,
    load_model_file,
    read_model_file,
    save_model_file,
)
from srmeta.models.registry import (
    ModelDescriptor,
    get_descriptor,
    load_model,
    parameter_count,
    registered_names,
)

__all__ = [
    "ModelDescriptor",
    "ModelSpec",
    "detect_architecture",
    "get_descriptor",
    "load_model",
    "load_model_file",
    "parameter_count",
    "read_model_file",
    "registered_names",
    "save_model_file",
]
