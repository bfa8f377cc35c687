"""The card's verdict: the quality gate's decision, and the ONNX export with its parity check (pure)."""

from pathlib import Path

from tasks.reports.card_facts import CardFacts, dataset_name, hub_id
from tasks.reports.markdown import table
from tasks.steps.export import MAX_F1_DIFFERENCE, MIN_AGREEMENT
from tasks.storage.catalog import ONNX, ONNX_MODEL, ONNX_QUANTIZED


def _verdict(decision: dict) -> str:
    rule = f"margin {decision['margin']}"
    rule += f", floor {decision['floor']}" if decision.get("floor") is not None else ""
    if decision.get("already_published"):
        return f"Already published: the published model is this one ({rule}): {decision['reason']}."
    if decision.get("forced"):  # the reason says so: "published by --force-publish although ..."
        return f"{decision['reason'][:1].upper()}{decision['reason'][1:]} ({rule})."
    verdict = "Published" if decision["publish"] else "Not published"
    return f"{verdict} by the quality gate ({rule}): {decision['reason']}."


def decision_section(facts: CardFacts) -> list[str]:
    decision = facts.decision
    if decision is None:
        return []
    challenger, champion = decision["challenger"], decision.get("champion")
    rows = [["this model", challenger["value"]]]
    if champion:
        same = all(champion.get(key) == challenger[key] for key in ("dataset", "split", "metric"))
        note = "" if same else f" ({champion.get('metric')} on {champion.get('dataset')} {champion.get('split')})"
        rows.append([f"previously published{note}", champion["value"]])
    return [
        "## Release history",
        "",
        _verdict(decision),
        "",
        *table(["Model", f"{challenger['metric']} ({challenger['split']})"], rows),
        "",
    ]


def summary(facts: CardFacts) -> str:
    base_id = hub_id(facts.base_model)
    local = f"`{Path(facts.base_model).name}` (a local model)"
    base = f"[`{base_id}`](https://huggingface.co/{base_id})" if base_id else local
    does = facts.card.does(facts.dataset["labels"], facts.pair)
    return f"{facts.card.WHAT} fine-tuned from {base} on `{dataset_name(facts)}`. {does}"


def export_section(facts: CardFacts) -> list[str]:
    """What the ONNX export scored against the PyTorch model, and what ships: `tasks.steps.export`."""
    if facts.export is None:
        return []
    parity = facts.export
    examples = f"{parity['examples']:,} {facts.profile.data_report.EXAMPLES}"
    rows = [
        [
            _RUNTIMES[name],
            f"{parity['f1'][name]:.4f}",
            f"{parity['agreement'][name]:.2%}" if name in parity["agreement"] else "",
            _shipped(name, parity),
        ]
        for name in parity["f1"]
    ]
    lines = [
        "## ONNX export",
        "",
        f"Exported with torch.onnx and run with onnxruntime on the {parity['split']} split ({examples}): a file ships "
        f"only when its argmax equals PyTorch's on at least {MIN_AGREEMENT:.1%} of tokens and its F1 is within "
        f"{MAX_F1_DIFFERENCE}"
        + (
            f", and the int8 quantization only when its F1 is at most {parity['max_quantized_drop']} "
            "under the full-precision export's."
            if parity.get("max_quantized_drop") is not None
            else "."
        ),
        "",
        *table(["Model", "F1", "Argmax as PyTorch's", "Shipped"], rows),
        "",
    ]
    if parity["shipped"]:
        lines += [
            "Run it with the same windows as evaluation: "
            "`python -m flows.predict --model <this folder> --runtime onnx --input <your file>`.",
            "",
        ]
    return lines


_RUNTIMES = {"pytorch": "PyTorch fp32", "onnx": "ONNX fp32", "int8": "ONNX int8"}


def _shipped(name: str, parity: dict) -> str:
    file = {"onnx": ONNX_MODEL, "int8": ONNX_QUANTIZED}.get(name)
    if file is None:
        return "(the model it came from)"
    return f"`{ONNX}/{file}`" if file in parity["shipped"] else f"no: {parity['not_shipped'][file]}"
