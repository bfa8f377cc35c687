"""Training engines behind one signature: a `TrainRequest` in, a model directory out.

Engines import the training stack (seconds): they are imported when training starts, so the
CLI, the flow module and fully cached runs start fast.
"""

from tasks.engines.request import TrainRequest


def run_engine(request: TrainRequest) -> None:
    """Run the request's engine in this process (one of several, under torchrun)."""
    if request.training.engine == "accelerate":
        from tasks.engines.accelerate_loop import train_with_accelerate

        train_with_accelerate(request)
    else:
        from tasks.engines.trainer import train_with_trainer

        train_with_trainer(request)
