"""tokenize/align: sub-word tokenization of the words and their labels, as an Arrow DatasetDict."""

import time
from pathlib import Path

import datasets

from tasks.config.sections import TaskName, TokenizationConfig
from tasks.console import run_logger
from tasks.pretrained import ModelSource, load_tokenizer
from tasks.profiles import profile_of
from tasks.storage.artifacts import building
from tasks.storage.catalog import LOAD_SUMMARY, TOKENIZE_SUMMARY
from tasks.storage.files import read_json, write_json
from tasks.storage.step import step


@step()
def tokenize(
    dataset_dir: str, model: ModelSource, tokenization: TokenizationConfig, task: TaskName, out_dir: str
) -> str:
    """Tokenize every split the way the task's part of this step does (`tasks.profiles.ner.tokenization`)."""
    labels = read_json(Path(dataset_dir) / LOAD_SUMMARY)["labels"]
    tokenizer, part = load_tokenizer(model), profile_of(task).tokenization
    started = time.perf_counter()
    loaded = datasets.load_from_disk(dataset_dir)
    results = {split: part.tokenize(rows, tokenizer, labels, tokenization, split) for split, rows in loaded.items()}
    tokenized = {split: result.rows for split, result in results.items()}
    seconds = time.perf_counter() - started
    long_inputs = {split: result.long_inputs for split, result in results.items()}
    counts = [
        f"{split} {count:,} of {len(loaded[split]):,} ({count / len(loaded[split]):.1%})"
        for split, count in long_inputs.items()
        if count
    ]
    if counts:
        run_logger().info(
            f"Examples longer than {tokenization.max_length} tokens, {part.LONG_INPUTS}: {', '.join(counts)}."
        )
    with building(Path(out_dir)) as partial:
        datasets.DatasetDict(tokenized).save_to_disk(str(partial))
        write_json(
            partial / TOKENIZE_SUMMARY,
            {
                "task": task,
                "labels": labels,
                "tokenizer": type(tokenizer).__name__,
                "max_length": tokenization.max_length,
                "stride": tokenization.window_stride,
                "context": tokenization.context,
                "examples": {split: len(rows) for split, rows in loaded.items()},
                "longer_than_max_length": long_inputs,
                "long_inputs": part.LONG_INPUTS,
                "label_alignment": tokenization.label_alignment,
                "num_rows": {split: len(rows) for split, rows in tokenized.items()},
                "sentences_per_second": round(sum(map(len, tokenized.values())) / seconds),
            },
        )
    return out_dir
