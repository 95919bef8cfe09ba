#!/usr/bin/env bash
# The notebooks' own install and their headless execution (tslab kernel, nbconvert).
#   scripts/notebooks.sh install      npm ci --prefix notebooks (tslab; kept out of the root package because its
#                                     bundled TypeScript 5.0 takes over the root tsc bin link), link this checkout
#                                     as notebooks/node_modules/mixlab so `from "mixlab"` resolves to its dist/,
#                                     and write the kernelspec under notebooks/.jupyter (nothing global)
#   scripts/notebooks.sh run [NB…]    execute notebooks in place (regenerates the committed outputs)
#   scripts/notebooks.sh check [NB…]  execute copies in a temporary folder (CI); the committed files stay as they are
# A notebook that raises, or runs past NOTEBOOK_LIMIT seconds (default 600), makes the script exit 1.
# Needs Debian's python3 with nbconvert + ipykernel (/usr/bin/python3) and a built dist/ (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY=/usr/bin/python3
KERNELS="$ROOT/notebooks/.jupyter"
LIMIT="${NOTEBOOK_LIMIT:-600}"

install() {
  npm ci --prefix notebooks --no-audit --no-fund
  ln -sfn ../.. notebooks/node_modules/mixlab
  rm -rf "$KERNELS"
  notebooks/node_modules/.bin/tslab install --python="$PY" --binary="$ROOT/notebooks/node_modules/.bin/tslab" --prefix="$KERNELS" >/dev/null
  echo "notebooks: tslab kernel in $KERNELS/share/jupyter/kernels"
}

execute() { # execute MODE NB…
  local mode=$1; shift
  [ -d "$KERNELS/share/jupyter/kernels/tslab" ] || install
  [ -f dist/src/index.js ] || { echo "notebooks: dist/src/index.js missing; run npm run build first" >&2; exit 1; }
  local nbs=("$@")
  [ ${#nbs[@]} -gt 0 ] || mapfile -t nbs < <(ls notebooks/*.ipynb | sort)
  local out="" failed=0
  if [ "$mode" = check ]; then out=$(mktemp -d); trap "rm -rf -- '$out'" EXIT; fi
  for nb in "${nbs[@]}"; do
    local t0=$SECONDS dest=(--inplace)
    [ "$mode" = check ] && dest=(--output-dir "$out")
    # Cells run with notebooks/ as the working directory (relative paths such as ../datasets).
    if (cd notebooks && JUPYTER_PATH="$KERNELS/share/jupyter" timeout "$LIMIT" "$PY" -m nbconvert --to notebook --execute \
        --ExecutePreprocessor.timeout="$LIMIT" --ExecutePreprocessor.kernel_name=tslab "${dest[@]}" "$ROOT/$nb"); then
      echo "notebooks: $nb executed in $((SECONDS - t0)) s"
    else
      echo "notebooks: $nb FAILED after $((SECONDS - t0)) s (limit ${LIMIT} s)" >&2
      failed=1
    fi
  done
  return $failed
}

case "${1:-}" in
  install) install ;;
  run) shift; execute run "$@" ;;
  check) shift; execute check "$@" ;;
  *) echo "usage: $0 install | run [notebook.ipynb…] | check [notebook.ipynb…]" >&2; exit 2 ;;
esac
