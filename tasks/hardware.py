"""Where and in what precision a model trains and is scored: the same choice for both engines,
evaluation and the check, so scores come from the hardware and precision that trained."""

import contextlib
from typing import TYPE_CHECKING

from tasks.errors import PipelineError

if TYPE_CHECKING:
    import torch


def compute_device() -> "torch.device":
    """Where a single process trains and evaluates: the GPU when there is one, as both engines choose."""
    import torch  # heavy: imported where used, so the flow module loads fast

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_precision(choice: str) -> str:
    """The mixed precision to train and evaluate in: ``auto`` is bf16 on GPUs that have it, fp16 on
    older GPUs, full precision on CPU (where bf16 autocast is many times slower than fp32 with
    torch's CPU build, even on CPUs that report bf16 instructions)."""
    import torch

    cuda = torch.cuda.is_available()
    if choice == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    if choice == "fp16" and not cuda:
        raise PipelineError("mixed_precision fp16 needs a CUDA GPU; use bf16 or no on this machine")
    return choice


def slow_precision_warning(choice: str) -> str | None:
    """Why a chosen precision will make this machine slow, if it will."""
    import torch

    if choice == "bf16" and not torch.cuda.is_available():
        return (
            "mixed_precision bf16 on a CPU: measured here, a training step of MiniLM takes about 28 times as long "
            "as in full precision and inference 6-8 times; use auto or no unless this CPU is known to be faster"
        )
    return None


def autocast(device: "torch.device", precision: str):
    """The mixed-precision context for a resolved precision (``no``, ``bf16`` or ``fp16``) on ``device``."""
    import torch

    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
