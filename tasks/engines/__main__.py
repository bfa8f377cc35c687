"""One training process: ``python -m tasks.engines REQUEST.json``, started N times by torchrun or
``accelerate launch`` (the train step writes REQUEST.json into its checkpoints folder).

A user error ends the process with status 2 after writing its message to ``error.txt`` beside
the request, where the launching step reads it back.
"""

import sys
from pathlib import Path

from tasks.engines import TrainRequest, run_engine
from tasks.errors import PipelineError
from tasks.lifetime import die_with_parent
from tasks.storage.catalog import TRAIN_ERROR


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tasks.engines REQUEST.json", file=sys.stderr)
        return 2
    die_with_parent()  # under torchrun, whose SIGKILL (the train step's, when its run is cancelled) it cannot forward
    request_file = Path(argv[0])
    request = TrainRequest.model_validate_json(request_file.read_text())
    try:
        run_engine(request)
    except PipelineError as error:
        (request_file.parent / TRAIN_ERROR).write_text(str(error))
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
