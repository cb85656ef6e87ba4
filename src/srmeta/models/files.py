"""Model weight files: srmeta's safetensors format, foreign checkpoints, detection.

srmeta writes safetensors only: it cannot run code when read (pickled ``.pth`` files can,
which is why those are only ever read with ``torch.load(weights_only=True)``), and its
metadata carries what is needed to rebuild the module: ``srmeta.arch``, ``srmeta.scale``
and ``srmeta.options`` (JSON, with every option, defaults included, so a file does not
change meaning when a default does). Files without that metadata (other projects'
checkpoints, official releases) are recognised from their keys and tensor shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from srmeta.atomic import atomic_open
from srmeta.errors import ModelError, first_line
from srmeta.models.descriptor import ModelDescriptor, model_info, normalize_options
from srmeta.models.registry import descriptors, get_descriptor
from srmeta.safeload import torch_load_reason

RUN_FILES = ("model_best.safetensors", "model_last.safetensors")
# Containers that training frameworks wrap a state dict in, tried in this order.
_WRAPPER_KEYS = ("state_dict", "params", "params_ema", "model")
_RESERVED = ("srmeta.arch", "srmeta.scale", "srmeta.options")
# Signatures (offset, bytes) of images, the files most often passed as --model by mistake.
# None can start a weights file: PyTorch files are zip archives ("PK") or pickles (0x80),
# safetensors an 8-byte little-endian length, then "{".
_IMAGE_SIGNATURES = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF8", "GIF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"BM", "BMP"),
    (8, b"WEBP", "WebP"),
)


@dataclass(frozen=True)
class ModelSpec:
    """What a weights file holds: the architecture, its scale and its full options.

    ``scale`` is ``None`` only for a detected architecture whose weights do not encode it
    (FSRCNN: the deconvolution kernel is 9x9 at every scale).
    """

    arch: str
    scale: int | None
    options: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", normalize_options(self.options))


def _fit_problem(descriptor: ModelDescriptor, spec: ModelSpec, state: Mapping) -> str | None:
    """Why ``state`` does not fit the model ``spec`` describes, or None if it does.

    The model is built on the meta device, so checking costs no memory or init time.
    """
    scale = spec.scale if spec.scale is not None else descriptor.scales[0]
    with torch.device("meta"):
        expected = descriptor.instantiate(scale, **spec.options).state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        return "keys: " + ", ".join(parts)
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            got, want = tuple(state[key].shape), tuple(tensor.shape)
            return f"{key} has shape {got}, the model needs {want}"
    return None


def _describe(spec: ModelSpec) -> str:
    scale = f" x{spec.scale}" if spec.scale is not None else ""
    options = ", ".join(f"{k}={v}" for k, v in spec.options.items())
    return f"{spec.arch}{scale} ({options})" if options else f"{spec.arch}{scale}"


def detect_architecture(state_dict: Mapping[str, torch.Tensor]) -> ModelSpec:
    """The architecture, scale and options of a bare state dict, from keys and shapes.

    Each registered architecture proposes a reading of the keys; a proposal is accepted
    only if a model built from it has exactly these keys and shapes. Options the weights
    cannot show (ESPCN's ``residual``, EDSR's ``res_scale``) come back as their defaults.
    """
    for descriptor in descriptors():
        if descriptor.detect is None:
            continue
        found = descriptor.detect(state_dict)
        if found is None:
            continue
        scale, options = found
        if scale == 1:
            raise ModelError(
                f"{descriptor.name} weights for x1, a restoration model (its output is the"
                " size of its input); srmeta loads super-resolution models, x2, x3 or x4"
            )
        spec = ModelSpec(descriptor.name, scale, options)
        if _fit_problem(descriptor, spec, state_dict) is None:
            return spec
    first = ", ".join(list(state_dict)[:4]) or "no tensors"
    raise ModelError(f"cannot tell which architecture these weights are for (keys: {first})")


def _is_safetensors(path: Path) -> bool:
    if path.suffix.lower() == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"  # 8-byte header length, then JSON


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # the parser raises assorted types for damaged files
        raise ModelError(f"{path}: not a readable safetensors file ({first_line(exc)})") from exc
    return state, metadata


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise here
            warnings.simplefilter("ignore")
            loaded = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # unpickling fails in many ways; all mean "not weights"
        raise ModelError(
            f"{path}: not a readable PyTorch weights file ({torch_load_reason(exc)})"
        ) from exc
    for _ in range(3):  # {"state_dict": {...}}, {"model": {"params": {...}}}, ...
        if not isinstance(loaded, Mapping):
            break
        inner = next((loaded[k] for k in _WRAPPER_KEYS if isinstance(loaded.get(k), Mapping)), None)
        if inner is None or all(isinstance(v, torch.Tensor) for v in loaded.values()):
            break
        loaded = inner
    if not isinstance(loaded, Mapping) or not loaded:
        raise ModelError(f"{path}: holds no state dict")
    if not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        keys = ", ".join(str(k) for k in list(loaded)[:5])
        raise ModelError(f"{path}: holds no state dict (top-level keys: {keys})")
    return {_strip_prefix(str(k)): v for k, v in loaded.items()}


def _strip_prefix(key: str) -> str:
    """Drop ``module.`` that ``DataParallel`` / ``DistributedDataParallel`` put on keys."""
    return key[len("module.") :] if key.startswith("module.") else key


def _spec_from_metadata(path: Path, metadata: Mapping[str, str]) -> ModelSpec:
    try:
        arch = get_descriptor(metadata["srmeta.arch"]).name
        scale = int(metadata["srmeta.scale"])
        options = json.loads(metadata.get("srmeta.options", "{}"))
        if not isinstance(options, dict):
            raise ValueError("srmeta.options is not a JSON object")
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from exc
    except (KeyError, ValueError) as exc:
        raise ModelError(f"{path}: malformed srmeta metadata ({first_line(exc)})") from exc
    return ModelSpec(arch, scale, options)


def _refuse_images(path: Path) -> None:
    """Say so when a file's first bytes show an image rather than weights: a JPEG given as
    ``--model`` would otherwise reach the pickle loader, whose refusal ("holds Python
    objects") sends the user looking for an unsafe checkpoint that is not there."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[8:9] == b"{":  # safetensors: its length may happen to begin like "BM"
        return
    for offset, signature, kind in _IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            raise ModelError(
                f"{path}: not a model weights file (.safetensors/.pth); it looks like a"
                f" {kind} image"
            )


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], ModelSpec]:
    """The tensors of a weights file and what they are.

    ``.safetensors`` with srmeta metadata is taken at its word; any other file (safetensors
    without metadata, ``.pth``/``.pt`` raw or wrapped in ``state_dict``/``params``/
    ``params_ema``/``model``, ``module.`` prefixes removed) goes through
    :func:`detect_architecture`.
    """
    source = Path(path)
    if source.is_dir():
        raise ModelError(f"{source}: is a directory; give a weights file or a training run")
    if not source.is_file():
        raise ModelError(f"{source}: no such weights file")
    try:
        _refuse_images(source)
        is_safetensors = _is_safetensors(source)
    except OSError as exc:
        raise ModelError(f"{source}: cannot read ({first_line(exc)})") from exc
    if is_safetensors:
        state, metadata = _read_safetensors(source)
        if "srmeta.arch" in metadata:
            return state, _spec_from_metadata(source, metadata)
    else:
        state = _read_torch(source)
    try:
        return state, detect_architecture(state)
    except ModelError as exc:
        raise ModelError(f"{source}: {exc}") from exc


def save_model_file(
    path: str | os.PathLike,
    model: nn.Module,
    arch: str,
    scale: int,
    options: Mapping[str, object],
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
) -> Path:
    """Write ``model``'s weights and description as safetensors, atomically.

    The weights are checked against a model built from ``arch``/``scale``/``options`` first,
    so a file that could not be loaded back is never written. ``metadata`` adds string
    entries (e.g. the run's config hash); it may not replace the three ``srmeta.`` keys.
    """
    descriptor = get_descriptor(arch)
    spec = ModelSpec(descriptor.name, scale, descriptor.options_with_defaults(options))
    info = model_info(model)
    if info is not None and info.scale != scale:  # FSRCNN's weights could not tell
        raise ModelError(f"the model is x{info.scale}, not x{scale}")
    try:
        options_json = json.dumps(spec.options, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model options must be JSON values ({first_line(exc)})") from exc
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    problem = _fit_problem(descriptor, spec, state)
    if problem is not None:
        raise ModelError(f"the model's weights are not {_describe(spec)}: {problem}")
    extra = dict(metadata or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ModelError(f"metadata may not set {', '.join(clash)}; pass arch/scale/options")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise ModelError("model file metadata must map strings to strings")
    header = {
        **extra,
        "srmeta.arch": spec.arch,
        "srmeta.scale": str(scale),
        "srmeta.options": options_json,
    }
    data = safetensors.torch.save(state, metadata=header)
    target = Path(path)
    with atomic_open(target, force=force, error=ModelError) as handle:
        handle.write(data)
    return target


def resolve_run_file(folder: Path) -> Path:
    """The weights of a training run: ``model_best`` if it exists, else ``model_last``."""
    for name in RUN_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelError(f"{folder}: no {' or '.join(RUN_FILES)} in this folder (not a training run?)")


def weights_file(path: str | os.PathLike) -> Path:
    """The weights file ``path`` names: the path itself, or a run folder's run file."""
    source = Path(path)
    return resolve_run_file(source) if source.is_dir() else source


def weights_digest(path: str | os.PathLike) -> str:
    """16 hex chars of sha256 over what decides a model file's outputs: its architecture,
    scale, options and tensors. Provenance metadata (config hash, step, recipe) does not
    count, so adding a note to a shipped file keeps its digest, and a benchmark keyed on it
    keeps its cells."""
    state, spec = read_model_file(weights_file(path))
    digest = hashlib.sha256(
        json.dumps([spec.arch, spec.scale, spec.options], sort_keys=True).encode()
    )
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


META_IMAGES_KEY = "srmeta.meta_images"
# run_hash.recipe_hash of the run that trained a file (written by training and bundling)
RECIPE_HASH_KEY = "srmeta.recipe_hash"
INIT_FROM_KEY = "srmeta.init_from"


def provenance(
    config_hash: str,
    recipe_hash: str,
    step: int,
    meta_images: Sequence[str] = (),
    init_from: str | None = None,
) -> dict[str, str]:
    """What a srmeta-trained file records of the run that wrote it: the config and recipe
    hashes, the step, the meta-dataset images (so evaluation can refuse to score on them) and
    the file it was warm-started from."""
    meta = {
        "srmeta.config_hash": config_hash,
        RECIPE_HASH_KEY: recipe_hash,
        "srmeta.step": str(step),
    }
    if meta_images:
        meta[META_IMAGES_KEY] = json.dumps(list(meta_images))
    if init_from is not None:
        meta[INIT_FROM_KEY] = init_from
    return meta


def provenance_of(path: Path) -> dict[str, str]:
    """A weights file's metadata beyond what the network is (arch, scale, options): what
    :func:`provenance` wrote, and any other note. Empty for files that are not safetensors."""
    if not _is_safetensors(path):
        return {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
    except Exception as exc:  # the parser raises assorted types for damaged files
        raise ModelError(f"{path}: not a readable safetensors file ({first_line(exc)})") from exc
    return {k: v for k, v in metadata.items() if k not in _RESERVED}


def meta_images_of(path: str | os.PathLike) -> list[str]:
    """Stems of the meta-dataset images a srmeta-trained model learned its weighting from.

    Evaluation must not score on them; files from elsewhere record none.
    """
    source = weights_file(path)
    if not source.is_file():
        return []
    return list(json.loads(provenance_of(source).get(META_IMAGES_KEY, "[]")))


def load_model_file(
    path: str | os.PathLike, scale: int | None = None, **options: object
) -> nn.Module:
    """The model stored in a weights file or a training run's folder, in eval mode.

    ``scale`` must agree with the file's (a x4 file cannot serve x2) and is needed only
    when the weights do not record it; ``options`` override the file's.
    """
    source = weights_file(path)
    state, spec = read_model_file(source)
    if scale is not None and spec.scale is not None and scale != spec.scale:
        raise ModelError(f"{source}: model file is x{spec.scale}, asked for x{scale}")
    chosen = spec.scale if spec.scale is not None else scale
    if chosen is None:
        raise ModelError(f"{source}: {spec.arch} weights do not record their scale; give one")
    descriptor = get_descriptor(spec.arch)
    spec = ModelSpec(
        spec.arch, chosen, descriptor.options_with_defaults({**spec.options, **options})
    )
    problem = _fit_problem(descriptor, spec, state)
    if problem is not None:
        raise ModelError(f"{source}: weights do not fit {_describe(spec)}: {problem}")
    model = descriptor.instantiate(chosen, **spec.options)
    model.load_state_dict(state, strict=True)
    return model.eval()
