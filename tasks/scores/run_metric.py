"""The metric a run is judged by (``--metric``): the score that picks the best checkpoint, stops training early,
ranks a sweep's trials and the quality gate compares, read from a split's scores (`tasks.scores.metrics`).

Light on purpose: the config validates a metric's name with it before anything heavy loads.
"""

LABEL_F1 = "f1:"  # f1:<label>, one label's F1
# What each task can be judged by; for NER, f1 is conlleval's entity F1, strict_f1 seqeval's strict IOB2 one.
CHOICES = {"ner": ("f1", "strict_f1"), "sequence-classification": ("f1", "macro_f1", "accuracy", f"{LABEL_F1}<label>")}
TITLES = {
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "strict_f1": "Strict F1",
    "macro_f1": "Macro-F1",
    "accuracy": "Accuracy",
}


def metric_label(metric: str) -> str | None:
    """The label an ``f1:<label>`` metric names, or None for a metric of the whole split."""
    return metric.removeprefix(LABEL_F1) if metric.startswith(LABEL_F1) else None


def metric_problem(metric: str, task: str) -> str | None:
    """Why ``metric`` cannot judge a run of ``task``, or None when it can."""
    choices = CHOICES[task]
    label = metric_label(metric)
    if metric in choices or (label and f"{LABEL_F1}<label>" in choices):
        return None
    return f"'{metric}' is not a metric of {task}: use one of {', '.join(choices)}"


def label_problem(metric: str, labels: list[str]) -> str | None:
    """Why an ``f1:<label>`` metric cannot be computed on data with ``labels``, or None when it can."""
    label = metric_label(metric)
    if label is None or label in labels:
        return None
    return f"--metric {metric} names the label '{label}', which the data lacks; its labels are {', '.join(labels)}"


def metric_value(scores: dict, metric: str) -> float:
    """``metric`` of one split's scores: a key of its own, or for ``f1:<label>`` that label's row."""
    label = metric_label(metric)
    return scores["per_class"][label]["f1"] if label is not None else scores[metric]


def scored_names(metrics: tuple[str, ...], metric: str) -> tuple[str, ...]:
    """The scores a run records of a split (validation while training, a sweep's trials): the task's headline
    ``metrics`` and the run's own ``metric``."""
    return metrics if metric in metrics else (*metrics, metric)


def metric_title(metric: str) -> str:
    """How cards and logs name ``metric``."""
    label = metric_label(metric)
    return f"F1 of {label}" if label is not None else TITLES[metric]


def majority_label_one(train_counts: dict[str, int]) -> str | None:
    """For two classes whose label id 1 (the second of ``train_counts``, in label-id order) is the majority of
    train: a note that the default metric, label 1's F1, then rewards the majority class; None otherwise."""
    if len(train_counts) != 2:
        return None
    (rare, rare_count), (label, count) = train_counts.items()
    if count <= rare_count:
        return None
    share = count / (count + rare_count)
    return (
        f"label 1, '{label}', is the majority class of train ({count:,} of {count + rare_count:,}, "
        f"{100 * share:.1f} %): the default --metric f1 is its F1, which a model that never finds '{rare}' can "
        f"score well on; --metric {LABEL_F1}{rare} (or macro_f1) judges the rare class"
    )


def describe_early_stopping(record: dict) -> str:
    """What early stopping did, in a sentence (the train summary's ``early_stopping`` record)."""
    settings = f"patience {record['patience']}, threshold {record['threshold']:g}"
    kept = f"kept validation pass {record['kept']['evaluation']} (epoch {record['kept']['epoch']:g})"
    stopped = record["stopped_at"]
    if stopped is None:
        return f"Early stopping ({settings}) never stopped training: all {record['evaluations']} validation passes ran; {kept}."
    return f"Early stopping ({settings}) stopped training at validation pass {stopped['evaluation']} (epoch {stopped['epoch']:g}); {kept}."
