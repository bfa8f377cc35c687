"""Precision by hardware: auto picks bf16 on a CPU only where it has AMX, an explicit bf16 on a CPU without
AMX warns with what was measured, and a GPU's choice does not look at the CPU. The CPU is a set of flags
given here, never this machine's."""

import pytest

from tasks import hardware
from tasks.errors import PipelineError
from tasks.hardware import cpu_bf16_warning, cpu_flags, cpu_precision, resolve_precision, slow_precision_warning

BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx lm pni ssse3 fma sse4_1 sse4_2 avx avx2"
# A Sapphire Rapids Xeon's AMX flags among its AVX-512 ones, and an AMD Zen 4's bf16 dot products without AMX.
XEON_AMX = set(f"{BASE} avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8".split())
ZEN4 = set(f"{BASE} avx512f avx512bw avx512_vnni avx512_bf16".split())
EPYC_AVX2 = set(BASE.split())


@pytest.mark.parametrize(
    ("flags", "precision"),
    [
        (XEON_AMX, "bf16"),
        (ZEN4, "no"),
        (EPYC_AVX2, "no"),
        (set(), "no"),
        (XEON_AMX - {"amx_bf16"}, "no"),
        (XEON_AMX - {"amx_tile"}, "no"),
    ],
    ids=["amx", "only-avx512_bf16", "avx2", "no-flags", "amx-without-bf16", "amx_bf16-without-tiles"],
)
def test_a_cpu_gets_bf16_only_with_amx_for_bf16(flags, precision):
    assert cpu_precision(flags) == precision


@pytest.mark.parametrize("flags", [ZEN4, EPYC_AVX2, set()], ids=["only-avx512_bf16", "avx2", "no-flags"])
def test_bf16_on_a_cpu_without_amx_warns_with_what_was_measured_where(flags):
    warning = cpu_bf16_warning(flags)
    assert warning.startswith("mixed_precision bf16 on a CPU without AMX: ")
    assert "about 28 times as long in bf16 as in full precision on a 2-core AMD EPYC without AMX" in warning
    assert "on a 2-core Intel Xeon with AMX the default run was 1.28 times as fast in bf16, at equal F1" in warning


def test_bf16_on_a_cpu_with_amx_does_not_warn():
    assert cpu_bf16_warning(XEON_AMX) is None


def test_the_flags_are_read_from_the_first_processor_of_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    processor = "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    flags = f"flags\t\t: {' '.join(sorted(XEON_AMX))}\nbugs\t\t: spectre_v1\n"
    cpuinfo.write_text("\n".join(processor.format(n=n) + flags for n in range(2)))
    assert cpu_flags(cpuinfo) == XEON_AMX


def test_no_cpuinfo_or_no_flags_line_is_no_flags(tmp_path):
    arm = tmp_path / "cpuinfo"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16\n")
    assert cpu_flags(tmp_path / "missing") == set() and cpu_flags(arm) == set()


@pytest.fixture
def cpu_only(monkeypatch):
    """This machine as a CPU without a GPU, with the CPU flags the test sets."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return lambda flags: monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)


def test_auto_on_a_cpu_follows_its_flags_and_bf16_warns_only_without_amx(cpu_only):
    cpu_only(XEON_AMX)
    assert resolve_precision("auto") == "bf16" and resolve_precision("no") == "no"
    assert slow_precision_warning("bf16") is None
    cpu_only(ZEN4)
    assert resolve_precision("auto") == "no" and resolve_precision("bf16") == "bf16"
    assert "AMD EPYC without AMX" in slow_precision_warning("bf16")
    assert slow_precision_warning("auto") is None and slow_precision_warning("no") is None
    with pytest.raises(PipelineError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")


@pytest.mark.parametrize(("gpu_bf16", "precision"), [(True, "bf16"), (False, "fp16")])
def test_auto_on_a_gpu_ignores_the_cpu(monkeypatch, gpu_bf16, precision):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: gpu_bf16)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: XEON_AMX)
    assert resolve_precision("auto") == precision and resolve_precision("fp16") == "fp16"
    assert slow_precision_warning("bf16") is None
