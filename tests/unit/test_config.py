import subprocess
import sys

import pytest

from conftest import REPO
from tasks.config.command_line import build_parser, parse_command_line
from tasks.config.finetune import FinetuneConfig
from tasks.config.training import TrainingConfig
from tasks.errors import PipelineError


def test_defaults_match_the_flow_parameters():
    assert parse_command_line([]) == (FinetuneConfig(), None)


def test_yaml_keys_are_option_names_and_command_line_wins(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rate: 5.0e-5\nmax-train-samples: 100\nlabel_alignment: first-subword\nepochs: 3\n")
    config, summary_json = parse_command_line(
        ["--config", str(path), "--epochs", "2", "--max-eval-samples", "none", "--summary-json", "s.json"]
    )
    assert str(summary_json) == "s.json"
    assert config.learning_rate == 5e-5
    assert config.max_train_samples == 100
    assert config.label_alignment == "first-subword"
    assert config.epochs == 2
    assert config.max_eval_samples is None


def test_sections_carry_only_their_fields():
    config = FinetuneConfig(learning_rate=1e-3, max_length=64)
    assert config.section(TrainingConfig) == TrainingConfig(learning_rate=1e-3)
    assert "max_length" not in TrainingConfig.model_fields


def test_help_documents_every_option_with_its_default():
    text = build_parser().format_help()
    for name in FinetuneConfig.model_fields:
        assert f"--{name.replace('_', '-')}" in text
    flat = "".join(text.split())
    assert "embedded:conll2003forner,embedded:conll2003-pairsforsequence-classification.(default:none)" in flat
    assert "0.1forner,0.0forsequence-classification.(default:none)" in flat  # min_score
    assert "statedonthecard.(default:auto)" in flat  # learning_rate


def test_task_dependent_defaults_fill_only_what_is_unset():
    assert (FinetuneConfig().dataset, FinetuneConfig().min_score) == ("embedded:conll2003", 0.1)
    classification = FinetuneConfig(task="sequence-classification")
    assert (classification.dataset, classification.min_score) == ("embedded:conll2003-pairs", 0.0)
    assert FinetuneConfig(task="sequence-classification", min_score=0.5).min_score == 0.5


def test_invalid_value_names_the_option():
    with pytest.raises(PipelineError, match="learning_rate: Input should be greater than 0"):
        parse_command_line(["--learning-rate", "-1"])


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--max-overlap", "1.5"], "max_overlap: Input should be less than or equal to 1"),
        (["--max-label-shift", "-0.1"], "max_label_shift: Input should be greater than or equal to 0"),
    ],
)
def test_the_data_limits_are_shares(argv, problem):
    with pytest.raises(PipelineError, match=problem):
        parse_command_line(argv)
    assert parse_command_line(["--max-overlap", "0.01"])[0].max_overlap == 0.01


def test_encoding_must_be_a_text_encoding_python_knows():
    assert parse_command_line(["--encoding", "latin-1"])[0].encoding == "latin-1"
    for name in ("utf-9", "rot13"):
        with pytest.raises(PipelineError, match=f"encoding: '{name}' is not a text encoding Python knows"):
            parse_command_line(["--encoding", name])


def test_unknown_yaml_key_is_rejected(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("learning_rat: 0.1\n")
    with pytest.raises(PipelineError, match="learning_rat: Extra inputs are not permitted"):
        parse_command_line(["--config", str(path)])


def test_missing_config_file():
    with pytest.raises(PipelineError, match="cannot read config file nowhere.yaml"):
        parse_command_line(["--config", "nowhere.yaml"])


def test_engine_options_parse():
    config, _ = parse_command_line(
        [
            "--engine",
            "accelerate",
            "--num-processes",
            "2",
            "--resume",
            "--mixed-precision",
            "bf16",
            "--gradient-accumulation-steps",
            "4",
        ]
    )
    assert (config.engine, config.num_processes, config.resume) == ("accelerate", 2, True)
    assert (config.mixed_precision, config.gradient_accumulation_steps) == ("bf16", 4)
    with pytest.raises(SystemExit):
        parse_command_line(["--engine", "keras"])


def test_class_weights_by_name_on_the_command_line_or_by_label_in_the_config_file(tmp_path):
    assert FinetuneConfig().class_weights == "none"
    assert parse_command_line(["--class-weights", "balanced"])[0].class_weights == "balanced"
    assert parse_command_line(["--class-weights", "none"])[0].class_weights == "none"
    path = tmp_path / "run.yaml"
    path.write_text("class_weights:\n  B-PER: 2.5\n  O: 1\n")
    assert parse_command_line(["--config", str(path)])[0].class_weights == {"B-PER": 2.5, "O": 1.0}
    path.write_text("class_weights: {1: 3}\n")  # a label named 1 reads as a number in YAML
    assert parse_command_line(["--config", str(path)])[0].class_weights == {"1": 3.0}
    assert FinetuneConfig.model_json_schema()["properties"]["class_weights"]["anyOf"] == [
        {"enum": ["none", "balanced"], "type": "string"},
        {"additionalProperties": {"type": "number"}, "type": "object"},
    ]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("class_weights: {O: -1}", "class_weights: the weight of 'O' is -1: class weights are numbers above 0"),
        ("class_weights: {O: 0}", "class_weights: the weight of 'O' is 0: class weights are numbers above 0"),
        ("class_weights: {O: heavy}", "class_weights: the weight of 'O' is heavy: class weights are numbers above 0"),
        ("class_weights: balance", "class_weights: 'balance' is not none, balanced or a mapping of label to weight"),
    ],
)
def test_a_bad_class_weight_is_refused_in_one_line(yaml_text, message, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(PipelineError) as error:
        parse_command_line(["--config", str(path)])
    assert str(error.value) == f"invalid configuration ({path}): {message}"


def test_resume_and_isolation_leave_the_train_key_alone_and_the_engine_and_class_weights_change_it(tmp_path):
    from tasks.pretrained import ModelSource
    from tasks.steps.train import Launch, train
    from tasks.storage.step import ArtifactStore

    def key(training: TrainingConfig, resume: bool, isolated: bool = False):
        model = ModelSource(kind="local", location="m")
        launch = Launch(resume=resume, isolated=isolated)
        return train.fn.artifact_dir("t", model, training, "ner", launch, store=ArtifactStore(root=tmp_path))

    training = FinetuneConfig().section(TrainingConfig)
    assert key(training, resume=True) == key(training, resume=False)
    assert key(training, resume=False, isolated=True) == key(training, resume=False)
    assert key(training.model_copy(update={"engine": "accelerate"}), resume=False) != key(training, resume=False)
    assert key(training.model_copy(update={"class_weights": "balanced"}), resume=False) != key(training, resume=False)


def test_help_answers_before_prefect_and_the_ml_libraries_load():
    command = [sys.executable, "-X", "importtime", "-m", "flows.finetune", "--help"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0 and "--learning-rate" in finished.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in finished.stderr.splitlines() if line.startswith("import time")
    }
    assert {"tasks.config.sections", "tasks.config.command_line"} <= imported
    assert imported.isdisjoint({"prefect", "torch", "transformers", "datasets"})


def test_a_bad_option_is_refused_before_anything_heavy_loads():
    command = [sys.executable, "-m", "flows.finetune", "--learning-rate", "-1"]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert (
        finished.stderr.strip()
        == "error: invalid configuration (command line): learning_rate: Input should be greater than 0"
    )
