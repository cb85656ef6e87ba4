"""SR architectures, the registry that maps names to them, and their weight files."""

from srmeta.models.descriptor import ModelDescriptor, ModelInfo, model_info
from srmeta.models.files import (
    ModelSpec,
    detect_architecture,
    load_model_file,
    read_model_file,
    save_model_file,
)
from srmeta.models.loading import load_model
from srmeta.models.registry import (
    get_descriptor,
    parameter_count,
    registered_names,
)

__all__ = [
    "ModelDescriptor",
    "ModelInfo",
    "ModelSpec",
    "detect_architecture",
    "get_descriptor",
    "load_model",
    "load_model_file",
    "model_info",
    "parameter_count",
    "read_model_file",
    "registered_names",
    "save_model_file",
]
