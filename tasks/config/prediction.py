"""The predict flow's one configuration: its parameters, its command line (``python -m flows.predict``)
and the deployment's form in the Prefect UI."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from tasks.config.command_line import options_parser, parse_options
from tasks.config.sections import ColumnsConfig, ConfigSection, QuantizationConfig
from tasks.storage.buckets import ArtifactsLocation

PUBLISHED = "published"
InputFormat = Literal["auto", "conll", "text", "json", "csv", "parquet"]
Runtime = Literal["pytorch", "onnx"]


class PredictionModelConfig(ConfigSection):
    model: str = Field(
        PUBLISHED,
        description="The model to run: a release directory, a Hub model id with an optional @revision, or "
        f"{PUBLISHED} (the model the registry of artifacts_dir names as published; {PUBLISHED}:<model name> "
        "when it holds several).",
    )
    runtime: Runtime = Field(
        "pytorch",
        description="pytorch, or onnx: the model's shipped ONNX export (its int8 quantization when shipped) run by "
        "onnxruntime, with the same windows and outputs; needs pip install '.[onnx]'.",
    )
    allow_pickle_weights: bool = Field(
        False,
        description="Run a model whose weights are only a pickle (pytorch_model.bin), which can run any code it "
        "holds as it loads; refused otherwise.",
    )
    hub_token_secret: str | None = Field(
        None, description="Name of a Prefect Secret block holding the Hub token, read when HF_TOKEN is not set."
    )


class PredictionInputConfig(ColumnsConfig):
    input: str = Field(
        description="What to predict: a file or folder of CoNLL text, JSON lines, CSV, TSV, Parquet, or plain text "
        "(one sentence or text per line; a tab between the two texts of a pair), a Hub dataset id, or an embedded "
        "dataset (embedded:conll2003). Tags or labels in it are ignored unless score is set."
    )
    split: str = Field(
        "test", description="The split of a Hub or embedded dataset, or the file of a folder, to predict."
    )
    input_format: InputFormat = Field(
        "auto",
        description="How to read a file: auto tells by its extension, and a .txt file is CoNLL text when its lines "
        "end in tags (O, B-PER, …), else plain text.",
    )
    score: bool = Field(
        False, description="Score the predictions against the input's tags or labels, as the evaluate step does."
    )
    strict: bool = Field(
        False, description="Fail on the first empty or unreadable row instead of reporting it and going on."
    )


class PredictionRunConfig(ConfigSection):
    batch_size: int = Field(64, ge=1, description="Inputs per forward pass; inputs of similar length are batched.")
    max_length: int | None = Field(
        None, ge=8, le=8192, description="Tokens per model input; none: the length the model was trained with."
    )
    stride: int | None = Field(
        None,
        ge=0,
        description="NER: sub-words that consecutive windows of a long input share; none: a quarter of max_length.",
    )
    context: int | None = Field(
        None,
        ge=0,
        description="NER: sub-words of the sentences before and after each sentence in its document read with "
        "it, in all (documents: -DOCSTART- in CoNLL text, blank lines in plain text, document_column); none: the "
        "context the model was trained with.",
    )
    export_only: bool = Field(
        False,
        description="Only export the model to ONNX and check it against PyTorch on the input (which needs tags or "
        "labels), with quantize and max_quantized_drop; predict nothing.",
    )
    artifacts_dir: ArtifactsLocation = Field(
        Path("artifacts"),
        description="Where the predictions and every other artifact are kept (a directory or a bucket URL).",
    )
    refresh: bool = Field(False, description="Ignore cached results and predict again.")
    verbose: bool = Field(False, description="Show the libraries' own output too.")


class PredictConfig(QuantizationConfig, PredictionRunConfig, PredictionInputConfig, PredictionModelConfig):
    """Everything one prediction run needs; every field is a CLI option of the same name."""


SECTIONS = {
    "model": PredictionModelConfig,
    "input": PredictionInputConfig,
    "run": PredictionRunConfig,
    "export": QuantizationConfig,
}


def parse_command_line(argv: list[str] | None = None) -> tuple[PredictConfig, Path | None]:
    parser = options_parser(
        "python -m flows.predict",
        "Run a fine-tuned model over new data as a cached Prefect flow: NER tags and entities, or labels with "
        "every class's probability, under the artifacts directory. Options override --config; both override defaults.",
        SECTIONS,
    )
    return parse_options(argv, parser, PredictConfig)
