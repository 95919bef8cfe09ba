#!/usr/bin/env bash
# The notebooks' own install and their headless execution.
#   scripts/notebooks.sh install   npm ci --prefix notebooks (tslab, the TypeScript kernel), link the
#                                  repository as notebooks/node_modules/mixlab so `from "mixlab"` resolves
#                                  to this checkout's dist/, and write the kernelspec under notebooks/.jupyter
#   scripts/notebooks.sh run [NB…] execute notebooks in place (nbconvert --execute, a time limit per notebook);
#                                  a notebook that raises makes the script fail
# Needs Debian's python3 with nbconvert + ipykernel (/usr/bin/python3) and a built dist/ (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY=/usr/bin/python3
KERNELS="$ROOT/notebooks/.jupyter"
TIMEOUT="${NOTEBOOK_TIMEOUT:-300}"

install() {
  npm ci --prefix notebooks --no-audit --no-fund
  # The package as a user would import it: a link to this checkout (its own node_modules serve its deps).
  ln -sfn ../.. notebooks/node_modules/mixlab
  rm -rf "$KERNELS"
  notebooks/node_modules/.bin/tslab install --python="$PY" --binary="$ROOT/notebooks/node_modules/.bin/tslab" --prefix="$KERNELS" >/dev/null
  echo "notebooks: tslab kernel in $KERNELS/share/jupyter/kernels (JUPYTER_PATH is set by '$0 run')"
}

run() {
  [ -d "$KERNELS/share/jupyter/kernels/tslab" ] || install
  [ -f dist/src/index.js ] || { echo "notebooks: dist/src/index.js missing; run npm run build first" >&2; exit 1; }
  local nbs=("$@")
  [ ${#nbs[@]} -gt 0 ] || mapfile -t nbs < <(ls notebooks/*.ipynb | sort)
  for nb in "${nbs[@]}"; do
    local t0=$SECONDS
    (cd notebooks && JUPYTER_PATH="$KERNELS/share/jupyter" "$PY" -m nbconvert --to notebook --execute --inplace \
      --ExecutePreprocessor.timeout="$TIMEOUT" --ExecutePreprocessor.kernel_name=tslab "$ROOT/$nb")
    echo "notebooks: $nb executed in $((SECONDS - t0)) s"
  done
}

case "${1:-}" in
  install) install ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 install | run [notebook.ipynb…]" >&2; exit 2 ;;
esac
