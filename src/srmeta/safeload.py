"""Why ``torch.load(weights_only=True)`` refused a file, in one line.

srmeta reads every PyTorch file (third-party weights, its own checkpoints) with the safe
weights-only loader; this turns that loader's page-long errors into a short cause.
"""

from __future__ import annotations

import re

from srmeta.errors import first_line


def torch_load_reason(exc: BaseException) -> str:
    """A short cause for a failed ``torch.load``: its own messages run to a page and
    suggest ``weights_only=False``, which srmeta never does (it would run the file's code)."""
    text = str(exc)
    if "Weights only load failed" in text:
        found = re.search(r"unsupported GLOBAL ([\w.]+)", text) or re.search(
            r"GLOBAL ([\w.]+) was not an allowed global", text
        )
        what = f" ({found.group(1)})" if found else ""
        return (
            f"refused by the safe weights-only loader: it holds Python objects{what}, not"
            " only tensors, and srmeta never runs a file's code"
        )
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().split("\n")[0]
        detail = detail.split(" was not an allowed global")[0].strip()
        return f"refused by the safe weights-only loader: {detail}"
    if isinstance(exc, EOFError):
        return "file is empty or truncated"
    reason = first_line(exc)
    if isinstance(exc, KeyError | IndexError) or len(reason) > 120:
        return "damaged, or not a PyTorch checkpoint"
    return reason
