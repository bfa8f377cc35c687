"""The catalog: every kind of artifact, the folder it lives in and the files it holds (Kedro's catalog is the
model). Steps, the card, retention, the bucket code and the tests take names from here; no other module
spells the name of an artifact's file (tests/unit/test_catalog.py checks). It imports nothing.

A step writes ``<artifacts>/<folder>/<key>`` (`tasks.storage.step.step`); the key hashes what made it.
"""

# dataset/: the loaded splits as Arrow (`datasets.DatasetDict.save_to_disk`) and what was loaded.
LOAD_SUMMARY = "load_summary.json"
# data_report/: counts, lengths, duplicates and leaks per split; the same as markdown for the UI and the card.
DATA_REPORT, DATA_REPORT_MARKDOWN = "data_report.json", "data_report.md"
# label_issues/ (--label-issues): the suspect rows, most suspect first; how many; the first of them as markdown.
LABEL_ISSUES, LABEL_ISSUES_SUMMARY, LABEL_ISSUES_MARKDOWN = "label_issues.jsonl", "label_issues.json", "label_issues.md"
# tokenized/: the tokenized splits as Arrow, and the labels and settings they were tokenized with.
TOKENIZE_SUMMARY = "tokenize_summary.json"
# model/: the trained model's own files (config, weights, tokenizer) and what training recorded: per evaluation,
# in all, and the Trainer's arguments.
TRAIN_HISTORY, TRAIN_SUMMARY, TRAINING_ARGUMENTS = "training_history.json", "train_summary.json", "training_args.json"
# checkpoints/<key>: a training's checkpoints, beside the steps' folders so that they outlive a failed run
# (--resume), with how far it got (the train step shows it in the UI while it runs), and the request a
# training process runs and the user error it leaves for the step that launched it.
CHECKPOINTS = "checkpoints"
TRAINING_PROGRESS, TRAIN_REQUEST, TRAIN_ERROR = "training_progress.json", "request.json", "error.txt"
# In each checkpoint of the Accelerate loop: its epoch, step, best score and early stopping's count.
CHECKPOINT_PROGRESS = "progress.json"
# In model/ and evaluation/: TensorBoard's event files.
TENSORBOARD = "tensorboard"
# evaluation/: the scores per split, where and how long it ran, the predictions, the figures (an index of
# them beside the images), the mistakes (errors/<split>.jsonl) and the training history with its scores.
METRICS, EVALUATED_ON = "metrics.json", "evaluated_on.json"
PREDICTIONS, PLOTS, ERRORS = "predictions", "plots", "errors"
FIGURES, TRAINING_CURVES = "figures.json", "training_curves.png"
# check/: the trained model run on the check input.
CHECK = "check.json"
# onnx/ (--export onnx), and the folder of the same name in a release: the models and their parity check.
ONNX = "onnx"
ONNX_MODEL, ONNX_QUANTIZED, PARITY = "model.onnx", "model_quantized.onnx", "parity.json"
# release/: the model with its card, its scores, figures and mistakes, what it was made from (this machine's
# paths, for retention; never pushed) and, for a sweep's winner, the sweep's report in a folder.
CARD, BUILT_FROM, RELEASE_SWEEP = "README.md", "built_from.json", "sweep"
# input/ (the predict flow): the rows read, as Arrow, and what was read.
INPUT_SUMMARY = "input_summary.json"
# prediction/: the rows with their predictions as Arrow, the same as files, and what was found.
PREDICTED_ROWS, PREDICTION_SUMMARY = "dataset", "prediction_summary.json"
NER_OUTPUTS = ("predictions.conll", "entities.jsonl")
CLASSIFICATION_OUTPUTS = ("predictions.csv", "predictions.jsonl")
SCORED_ERRORS = "errors.jsonl"  # with --score: the rows the model got wrong, as the evaluate step writes them

# Every artifact: a finished local one lists its files and sizes; one in a bucket is committed by a record of
# its writer and files, and rewritten each time a run reuses it (its last use, which retention reads).
MANIFEST, COMMIT, USED = ".manifest.json", "commit.json", "used"

# Under the artifacts directory, beside the steps' folders: the registry of releases (one file on disk; in a
# bucket, which has no lock to take turns on one file, an object per release), the sweeps (one folder each,
# with a report and its plot), the MLflow store when MLFLOW_TRACKING_URI is unset, Hub models downloaded.
REGISTRY, BUCKET_REGISTRY = "registry.json", "registry"
SWEEPS, SWEEP_REPORT, SWEEP_PLOT = "sweeps", "sweep.json", "sweep.png"
MLFLOW = "mlflow"
PUBLISHED_DOWNLOADS = "published"

# The steps' folders, in the order a run writes them, with the files each holds by name.
STEP_FILES = {
    "dataset": (LOAD_SUMMARY,),
    "data_report": (DATA_REPORT, DATA_REPORT_MARKDOWN),
    "label_issues": (LABEL_ISSUES, LABEL_ISSUES_SUMMARY, LABEL_ISSUES_MARKDOWN),
    "tokenized": (TOKENIZE_SUMMARY,),
    "model": (TRAIN_HISTORY, TRAIN_SUMMARY, TRAINING_ARGUMENTS, TENSORBOARD),
    "evaluation": (METRICS, EVALUATED_ON, PREDICTIONS, PLOTS, ERRORS, TRAIN_HISTORY, TENSORBOARD),
    "check": (CHECK,),
    "onnx": (ONNX_MODEL, ONNX_QUANTIZED, PARITY),
    "release": (
        CARD,
        BUILT_FROM,
        METRICS,
        TRAIN_HISTORY,
        TRAIN_SUMMARY,
        TRAINING_ARGUMENTS,
        PLOTS,
        ERRORS,
        ONNX,
        RELEASE_SWEEP,
    ),
    "input": (INPUT_SUMMARY,),
    "prediction": (PREDICTED_ROWS, PREDICTION_SUMMARY, *NER_OUTPUTS, *CLASSIFICATION_OUTPUTS, SCORED_ERRORS),
}
STEP_FOLDERS = tuple(STEP_FILES)
# Each step (its name in the log, its function and its module, `tasks.storage.step`) and the folder of what it writes.
FOLDERS = {
    "load": "dataset",
    "data_report": "data_report",
    "label_issues": "label_issues",
    "tokenize": "tokenized",
    "train": "model",
    "evaluate": "evaluation",
    "check": "check",
    "export": ONNX,
    "release": "release",
    "read": "input",
    "predict": "prediction",
}
# Not step artifacts, but what runs leave: a failed run's checkpoints (for --resume), Hub models downloaded.
LEFT_BY_RUNS = (CHECKPOINTS, PUBLISHED_DOWNLOADS)
