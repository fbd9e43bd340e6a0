#!/usr/bin/env bash
# The README's main command on a fresh machine: set everything up, then run the embedded demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./runs/setup.sh
exec ./runs/demo.sh
