"""The pipeline's one configuration: flow parameters, CLI options, YAML keys and UI form.

`FinetuneConfig` is flat, so a CLI option, a YAML key and a Prefect form field all
carry the same name. It is assembled from sections; each task takes only the
section it depends on, so its cache key changes only when that section does.
"""

import typing
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tasks.data.assets import EMBEDDED_CONLL2003, EMBEDDED_CONLL2003_PAIRS, EMBEDDED_MODEL, EMBEDDED_MOVIE_REVIEWS


class ConfigSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def section(self, section: "type[Section]") -> "Section":
        """The part of this config that ``section`` names: what a step takes, so its key changes only with it."""
        return section.model_validate(self.model_dump(include=set(section.model_fields)))


class Seeded(ConfigSection):
    seed: int = Field(42, description="Seed for the training slice, initialisation and shuffling.")


TaskName = Literal["ner", "sequence-classification"]
MixedPrecision = Literal["auto", "no", "bf16", "fp16"]
Weighting = Literal["none", "balanced"]
WEIGHTINGS = typing.get_args(Weighting)
ClassWeights = Weighting | dict[str, float]  # a weighting by name, or a weight per label name
# Defaults that depend on --task, filled in where a field is left as none. An NER model under F1 0.1
# finds almost no entity; for classification the gate's own chance floor (one label for everything)
# is the one that matters. The learning rate depends on the model too: `tasks.config.recipe`.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "ner": {"dataset": EMBEDDED_CONLL2003, "min_score": 0.1},
    "sequence-classification": {"dataset": EMBEDDED_CONLL2003_PAIRS, "min_score": 0.0},
}
Auto = Literal["auto"]


def per_task(field: str) -> str:
    return "none: " + ", ".join(f"{defaults[field]} for {task}" for task, defaults in TASK_DEFAULTS.items()) + "."


class ColumnsConfig(ConfigSection):
    """Which columns of the user's files hold the words, texts, tags and labels, and how text files are encoded."""

    tokens_column: str = Field("tokens", description="Column holding each sentence's words.")
    tags_column: str = Field("ner_tags", description="NER: column holding each word's tag (strings or ClassLabel ids).")
    text_columns: list[str] | None = Field(
        None,
        min_length=1,
        max_length=2,
        description="Sequence classification: the text column, or two for a pair task; none picks "
        "sentence1 and sentence2 when the data has both, else text or sentence.",
    )
    label_column: str = Field(
        "label", description="Sequence classification: column holding each example's label (strings or ClassLabel ids)."
    )
    document_column: str | None = Field(
        None,
        description="NER: column holding each sentence's document (any id), so that context reads the sentences "
        "around it (JSON lines, CSV, TSV, Parquet; the rows of a document in reading order). CoNLL files mark "
        "documents with -DOCSTART- lines.",
    )
    encoding: str | None = Field(
        None,
        description="Encoding of local text files (CoNLL, JSON lines, CSV, TSV), such as latin-1 or cp1252; "
        "none: UTF-8, with or without a byte-order mark.",
    )

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, encoding: str | None) -> str | None:
        if encoding is None:
            return encoding
        try:
            "".encode(encoding)  # unlike codecs.lookup, this also refuses codecs that are not text encodings (rot13)
        except LookupError:
            raise PydanticCustomError(
                "unknown_encoding",
                "'{encoding}' is not a text encoding Python knows; use one such as latin-1 or cp1252",
                {"encoding": encoding},
            ) from None
        return encoding


class DataConfig(Seeded, ColumnsConfig):
    dataset: str | None = Field(
        None,
        description="Hub dataset id, a local file or folder (CoNLL text, JSON lines, CSV, TSV, Parquet; for NER also "
        "annotation tools' exports of texts with character spans: doccano, Label Studio, spaCy-style spans), or an "
        f"embedded dataset: {EMBEDDED_CONLL2003} (CoNLL-2003 English NER), {EMBEDDED_CONLL2003_PAIRS} (sentence "
        f"pairs derived from it: consecutive or not), {EMBEDDED_MOVIE_REVIEWS} (movie review snippets, positive or "
        "negative; downloaded by setup.sh). " + per_task("dataset"),
    )
    dataset_config: str | None = Field(None, description="Configuration name of a Hub dataset.")
    dataset_revision: str | None = Field(None, description="Branch, tag or commit of a Hub dataset to pin.")
    max_train_samples: int | None = Field(
        6000,
        ge=1,
        description="Train on a seeded random slice of this many sentences (of whole documents, as many as reach "
        "it, when the data marks documents); none for all.",
    )
    max_eval_samples: int | None = Field(
        None, ge=1, description="Evaluate on the first N sentences of validation and test; none for all."
    )
    strict: bool = Field(
        False,
        description="NER from span-annotated JSON (doccano, Label Studio, spaCy-style spans): fail on the first "
        "row left out (a span that cuts a word, overlaps another, runs past the text, is empty or has an empty "
        "label) instead of reporting each kind and training on the rest.",
    )


class ModelConfig(ConfigSection):
    model: str = Field(
        EMBEDDED_MODEL,
        description=f"Hub model id, a local model directory, or {EMBEDDED_MODEL} (installed by setup.sh).",
    )
    model_revision: str | None = Field(None, description="Branch, tag or commit of a Hub model to pin.")
    allow_pickle_weights: bool = Field(
        False,
        description="Load a base model whose weights are only a pickle (pytorch_model.bin), which can run any code "
        "it holds as it loads; refused otherwise. The card says so. Remote code (trust_remote_code) is never run.",
    )


class TokenizationConfig(ConfigSection):
    max_length: int = Field(
        128,
        ge=8,
        le=8192,
        description="Tokens per model input. NER: a longer sentence becomes overlapping windows of whole words, "
        "each word scored from the window where it has the most context; sequence classification: longer texts "
        "are truncated, and counted in the log and on the card.",
    )
    stride: int | None = Field(
        None,
        ge=0,
        description="NER: sub-words that consecutive windows of a long sentence share, below max_length; "
        "none: a quarter of max_length.",
    )
    context: int = Field(
        0,
        ge=0,
        description="NER: sub-words of the sentences before and after each sentence in its document that the "
        "model reads with it, up to this many in all (half at most after it) within max_length; 0 reads each "
        "sentence alone. Only the sentence's "
        "own words are labelled, scored and predicted. Documents: CoNLL's -DOCSTART- lines, document_column, "
        "blank lines in plain text to predict; a row longer than max_length is read a sentence at a time.",
    )
    label_alignment: Literal["all-subwords", "first-subword"] = Field(
        "all-subwords",
        description="Labels of continuation sub-words: all-subwords gives them the word's label with B- turned "
        "into I- (the Hugging Face course's rule); first-subword ignores them in the loss.",
    )

    @model_validator(mode="after")
    def _stride_below_length(self) -> "TokenizationConfig":
        if self.stride is not None and self.stride >= self.max_length:
            raise PydanticCustomError(
                "stride",
                "stride {stride} is not below max_length {max_length}: windows would not advance",
                {"stride": self.stride, "max_length": self.max_length},
            )
        return self

    @property
    def window_stride(self) -> int:
        """The stride windows use: the one set, else a quarter of max_length."""
        return self.max_length // 4 if self.stride is None else self.stride


class QuantizationConfig(ConfigSection):
    quantize: Literal["none", "int8"] = Field(
        "none",
        description="int8: also ship onnxruntime's dynamic int8 quantization of the ONNX export "
        "(onnx/model_quantized.onnx), only when its F1 on the evaluated split is within max_quantized_drop of the "
        "full-precision model's; the card states both either way.",
    )
    max_quantized_drop: float = Field(
        0.005, ge=0, le=1, description="The most F1 the int8 model may lose against the full-precision one and ship."
    )


class ExportConfig(QuantizationConfig):
    export: Literal["none", "onnx"] = Field(
        "none",
        description="onnx: also ship the model as ONNX (onnx/model.onnx beside the tokenizer), exported with torch.onnx "
        "and shipped only when onnxruntime's predictions agree with PyTorch's on the evaluated split (the same argmax "
        "on at least 99.9 % of tokens, F1 within 0.001); needs pip install '.[onnx]'.",
    )


Section = TypeVar("Section", bound=ConfigSection)
