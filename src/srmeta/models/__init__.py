"""SR architectures and the registry that maps names to them."""

from srmeta.models.registry import ModelDescriptor, get_descriptor, load_model, registered_names

__all__ = ["ModelDescriptor", "get_descriptor", "load_model", "registered_names"]
