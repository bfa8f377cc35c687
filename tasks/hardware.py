"""Where and in what precision a model trains and is scored: the same choice for both engines,
evaluation and the check, so scores come from the hardware and precision that trained."""

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.errors import PipelineError

if TYPE_CHECKING:
    import torch


def compute_device() -> "torch.device":
    """Where a single process trains and evaluates: the GPU when there is one, as both engines choose."""
    import torch  # heavy: imported where used, so the flow module loads fast

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Linux's names for Intel AMX's tile registers and its bf16 matrix instructions; oneDNN, which runs torch's CPU
# matrix products, computes bf16 on them. Only such a CPU (an Intel Xeon) has been measured faster in bf16.
AMX_BF16 = frozenset({"amx_bf16", "amx_tile"})
MEASURED = (
    "a MiniLM training step took about 28 times as long in bf16 as in full precision on a 2-core AMD EPYC "
    "without AMX; on a 2-core Intel Xeon with AMX the default run was 1.28 times as fast in bf16, at equal F1"
)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them; none where there is no such file (macOS, Windows)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return set()
    return next((set(line.partition(":")[2].split()) for line in lines if line.startswith("flags")), set())


def cpu_precision(flags: set[str]) -> str:
    """``auto``'s precision on a CPU with these flags: bf16 where it has AMX for bf16, else full precision.
    avx512_bf16 alone is not enough: its dot products have at most twice fp32's throughput, which autocast's
    casts can eat up, and no CPU with it but without AMX has been measured faster.

    torch's own ``torch.backends.cpu.get_cpu_capability()`` is not required as well: it names the vector
    instructions of ATen's element-wise kernels (AVX2 or AVX512), not oneDNN's matrix kernels, so it cannot
    tell AMX apart (an AVX-512 CPU without AMX reports AVX512 too), and every CPU with AMX has AVX-512."""
    return "bf16" if AMX_BF16 <= flags else "no"


def resolve_precision(choice: str) -> str:
    """The mixed precision to train and evaluate in: ``auto`` is bf16 on GPUs that have it, fp16 on
    older GPUs, and on a CPU bf16 where it has AMX (`cpu_precision`), full precision elsewhere."""
    import torch

    cuda = torch.cuda.is_available()
    if choice == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else cpu_precision(cpu_flags())
    if choice == "fp16" and not cuda:
        raise PipelineError("mixed_precision fp16 needs a CUDA GPU; use bf16 or no on this machine")
    return choice


def cpu_bf16_warning(flags: set[str]) -> str | None:
    """Why bf16 will make a CPU with these flags slow, if it will: one without AMX."""
    if cpu_precision(flags) == "bf16":
        return None
    return f"mixed_precision bf16 on a CPU without AMX: {MEASURED}; use auto or no unless bf16 is known faster here"


def slow_precision_warning(choice: str) -> str | None:
    """Why a chosen precision will make this machine slow, if it will."""
    import torch

    if choice == "bf16" and not torch.cuda.is_available():
        return cpu_bf16_warning(cpu_flags())
    return None


def autocast(device: "torch.device", precision: str):
    """The mixed-precision context for a resolved precision (``no``, ``bf16`` or ``fp16``) on ``device``."""
    import torch

    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
