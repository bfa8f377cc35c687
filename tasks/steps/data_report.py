"""data report: what the loaded data holds, split by split, and the problems in it.

``data_report.json`` gives per split the examples, the label counts (NER: entities by type), the
lengths in words and in the model's sub-words (special tokens included, before truncation) and how
many exceed ``--max-length``, empty or whitespace-only words and texts, and duplicates within the
split; then the rows of span-annotated files left out, by kind (`tasks.data.sources`), the examples of
validation and test that also appear in train, and the labels seen in
one split only, and notes on what the labels mean for the metric (two classes whose label 1 is the
majority). Examples are compared by their text with runs of whitespace collapsed and the ends
stripped; case is kept. ``data_report.md`` is the same as markdown, as the Prefect UI shows it.
What an example's text is and what its labels are is the task's part (`tasks.profiles`).
"""

from pathlib import Path

from tasks.config.sections import TaskName
from tasks.data.local_files import annotation_notes, left_out_lines
from tasks.pretrained import ModelSource, load_tokenizer
from tasks.profiles import profile_of
from tasks.reports.markdown import table
from tasks.storage.artifacts import building
from tasks.storage.catalog import DATA_REPORT, DATA_REPORT_MARKDOWN, LOAD_SUMMARY
from tasks.storage.files import read_json, write_json
from tasks.storage.step import step

PERCENTILES = (50, 90, 99)

Key = tuple[str, ...]  # an example's texts, whitespace normalised: what two equal examples share


def normalized(text: str) -> str:
    """Runs of whitespace as one space, the ends stripped; case kept."""
    return " ".join(text.split())


def example_keys(texts: list[tuple[str, ...]]) -> list[Key]:
    return [tuple(normalized(text) for text in example) for example in texts]


def lengths(values: list[int]) -> dict[str, float]:
    """Percentiles (each one a length some example has), the mean and the longest."""
    import numpy

    if not values:
        return {**{f"p{p}": 0 for p in PERCENTILES}, "mean": 0.0, "max": 0}
    found = numpy.percentile(values, PERCENTILES, method="inverted_cdf")
    return {
        **{f"p{p}": int(value) for p, value in zip(PERCENTILES, found)},
        "mean": round(float(numpy.mean(values)), 1),
        "max": max(values),
    }


def duplicates(keys: list[Key]) -> int:
    """Examples that repeat an earlier one of the same split."""
    return len(keys) - len(set(keys))


def overlap(train_keys: list[Key], other_keys: list[Key]) -> int:
    """Examples of another split whose text is also a training example's."""
    train = set(train_keys)
    return sum(key in train for key in other_keys)


def split_report(
    keys: list[Key], words: list[list[str]], subwords: list[int], labels: dict[str, int], max_length: int
) -> dict:
    """One split's figures, from each example's key, words and sub-word count, and the split's label counts."""
    return {
        "examples": len(keys),
        "labels": labels,
        "words": lengths([len(example) for example in words]),
        "subwords": lengths(subwords),
        "over_max_length": sum(count > max_length for count in subwords),
        "blank_words": sum(not word.strip() for example in words for word in example),
        "blank_texts": sum(not all(example) for example in keys),
        "duplicates": duplicates(keys),
    }


def labels_in_one_split(label_counts: dict[str, dict[str, int]]) -> dict[str, str]:
    """Each label found in exactly one split, with that split."""
    found: dict[str, list[str]] = {}
    for split, counts in label_counts.items():
        for label, count in counts.items():
            found.setdefault(label, []).extend([split] if count else [])
    return {label: splits[0] for label, splits in found.items() if len(splits) == 1}


def label_distribution(counts: dict[str, int]) -> dict[str, float]:
    """Each label's share of the counted labels; empty when none was counted."""
    total = sum(counts.values())
    return {label: round(count / total, 4) for label, count in counts.items() if count} if total else {}


def training_distribution(report: dict) -> dict[str, float]:
    """The label distribution of a report's training split."""
    return label_distribution(report["splits"]["train"]["labels"])


def label_shift(distribution_a: dict[str, float], distribution_b: dict[str, float]) -> float:
    """Total variation distance: half the L1 distance over the union of labels, 0 (the same) to 1 (disjoint)."""
    if not distribution_a or not distribution_b:
        raise ValueError("a label distribution with no labels has no distance to another")
    labels = distribution_a.keys() | distribution_b.keys()
    return round(sum(abs(distribution_a.get(label, 0.0) - distribution_b.get(label, 0.0)) for label in labels) / 2, 4)


def problems(report: dict) -> list[str]:
    """One line per kind of problem the report found, naming each split it was found in. Inputs longer than
    --max-length are counted, not listed: the tokenize step says what becomes of them (windows or truncation)."""
    unit, splits = report["unit"], report["splits"]

    def line(what: str, counts: dict[str, str]) -> list[str]:
        return [f"{what}: " + ", ".join(f"{split} {count}" for split, count in counts.items())] if counts else []

    def share_of(name: str) -> dict[str, str]:
        return {
            split: f"{figures[name]:,} of {figures['examples']:,}" for split, figures in splits.items() if figures[name]
        }

    overlap = {
        split: f"{shared['examples']:,} of {splits[split]['examples']:,} ({100 * shared['share']:.1f} %)"
        for split, shared in report["overlap"].items()
        if shared["examples"]
    }
    one_split = report["labels_in_one_split"]
    return [
        *report["left_out"],
        *line(f"{unit} that repeat another of their split", share_of("duplicates")),
        *line(
            "empty or whitespace-only words",
            {s: f"{f['blank_words']:,}" for s, f in splits.items() if f["blank_words"]},
        ),
        *line(f"{unit} with an empty or whitespace-only text", share_of("blank_texts")),
        *line(f"{unit} that also appear in train", overlap),
        *(
            [f"labels seen in one split only: {', '.join(f'{label} ({split})' for label, split in one_split.items())}"]
            if one_split
            else []
        ),
    ]


def report_of(splits: dict, part, tokenizer, max_length: int, annotations: dict | None = None) -> dict:
    """The report of ``splits`` (loaded `datasets.Dataset` by name), with the task's
    ``part`` and the model's (fast) tokenizer; ``annotations``: what the load step read of span-annotated files."""
    keys = {split: example_keys(part.texts(rows)) for split, rows in splits.items()}
    labels = {split: part.label_counts(rows) for split, rows in splits.items()}
    report = {
        "unit": part.EXAMPLES,
        "max_length": max_length,
        "splits": {
            split: split_report(
                keys[split], part.words(rows), part.subword_lengths(rows, tokenizer), labels[split], max_length
            )
            for split, rows in splits.items()
        },
        "overlap": {},
        "labels_in_one_split": labels_in_one_split(labels),
        "left_out": left_out_lines(annotations or {}),
        "notes": [*annotation_notes(annotations or {}), *(part.notes(labels["train"]) if "train" in labels else [])],
    }
    for split in (name for name in splits if name != "train"):
        shared = overlap(keys["train"], keys[split])
        report["overlap"][split] = {"examples": shared, "share": shared / len(keys[split]) if keys[split] else 0.0}
    return {**report, "problems": problems(report)}


def overlap_cell(report: dict, split: str) -> str:
    """A split's examples also in train, and their share, as the report's and the card's tables show them."""
    found = report["overlap"].get(split)
    return f"{found['examples']} ({100 * found['share']:.1f} %)" if found else "—"


def markdown(report: dict) -> str:
    """The report as the Prefect UI shows it: figures per split, label counts, problems."""
    unit, splits = report["unit"], report["splits"]

    def spread(figures: dict) -> str:
        return " / ".join(str(figures[name]) for name in (*(f"p{p}" for p in PERCENTILES), "max"))

    counts = [
        [
            split,
            figures["examples"],
            figures["duplicates"],
            overlap_cell(report, split),
            figures["over_max_length"],
            figures["blank_words"],
            figures["blank_texts"],
        ]
        for split, figures in splits.items()
    ]
    spreads = [[split, spread(figures["words"]), spread(figures["subwords"])] for split, figures in splits.items()]
    names = list(dict.fromkeys(label for figures in splits.values() for label in figures["labels"]))
    header = [
        "Split",
        unit.capitalize(),
        "Duplicates",
        "Also in train",
        f"Over --max-length {report['max_length']}",
        "Blank words",
        "Blank texts",
    ]
    # Two narrow tables rather than one wide one, which the Prefect UI would cut at the right.
    return (
        "\n".join(
            [
                "# Data report",
                "",
                (
                    f"Sub-words by the model's tokenizer, special tokens included, before truncation. {unit.capitalize()} "
                    "are compared by their text with whitespace normalised."
                ),
                "",
                *table(header, counts),
                "",
                *table(["Split", "Words p50 / p90 / p99 / max", "Sub-words p50 / p90 / p99 / max"], spreads),
                "",
                *table(
                    ["Label", *splits],
                    [[label, *(figures["labels"].get(label, 0) for figures in splits.values())] for label in names],
                ),
                "",
                "Problems:" if report["problems"] else "No problems found.",
                "",
                *(f"- {problem}" for problem in report["problems"]),
                *(["", "Notes:", ""] if report["notes"] else []),
                *(f"- {note}" for note in report["notes"]),
            ]
        )
        + "\n"
    )


@step()
def data_report(dataset_dir: str, model: ModelSource, max_length: int, task: TaskName, out_dir: str) -> str:
    """Report on every split of the loaded data (`report_of`); write it as JSON and as markdown."""
    import datasets  # heavy: imported where used, so the flow module and cached runs start fast

    splits = datasets.load_from_disk(dataset_dir)
    annotations = read_json(Path(dataset_dir) / LOAD_SUMMARY).get("annotations")
    report = report_of(dict(splits), profile_of(task).data_report, load_tokenizer(model), max_length, annotations)
    with building(Path(out_dir)) as partial:
        write_json(partial / DATA_REPORT, report)
        (partial / DATA_REPORT_MARKDOWN).write_text(markdown(report))
    return out_dir
