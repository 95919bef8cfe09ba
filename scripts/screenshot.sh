#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of `mixlab report`: the report of RegMix's 512
# released runs with the capped recommendation of tests/report/fixtures/regmix-capped.json, opened
# in headless chromium (scripts/report-browser.mjs checks the page and takes the full-page shot).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/cli/main.js ] || npm run build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p docs
node bin/mixlab.js report datasets/regmix/train_mixture_1m.csv --losses datasets/regmix/train_pile_loss_1m.csv --join-on index \
  --weights-prefix train_the_pile_ --loss-pattern 'metric/the_pile_{domain}_val_loss' \
  --proportions tests/report/fixtures/regmix-capped.json --method regmix,loglinear -o "$tmp/report.html"
node scripts/report-browser.mjs "$tmp/report.html" --screenshot docs/report.png --width 1280 > "$tmp/check.json" || { cat "$tmp/check.json"; exit 1; }
echo "wrote docs/report.png ($(stat -c %s docs/report.png) bytes); page checked: no request, no console message, every plot drawn"
