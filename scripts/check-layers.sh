#!/usr/bin/env bash
# Checks that includes between the folders of src/ follow the layers, lowest first:
#
#   common <- flow/expr <- flow <- config <- actions <- store <- engine <- server <- cli
#
# A file may include headers of its own layer and of the layers below it, never above. Each folder
# is one library (CMakeLists.txt), so an include that goes up would also be a link that goes
# backwards. Prints every offending include as file:line and exits 1 if there is one.
#
#   bash scripts/check-layers.sh [SOURCE_ROOT]
set -euo pipefail
ROOT="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$ROOT"

find src -name '*.h' -o -name '*.cc' | sort | xargs awk '
  BEGIN {
    split("common flow/expr flow config actions store engine server cli", layers, " ")
    count = length(layers)
  }
  # layer_of(path): the index of the layer a path (relative to src/) is in, or 0. flow/expr comes
  # before flow in the list, so it matches first.
  function layer_of(path,   i) {
    for (i = 1; i <= count; i++) {
      if (index(path, layers[i] "/") == 1) return i
    }
    return 0
  }
  FNR == 1 { own = layer_of(substr(FILENAME, 5)) }
  own && /^#include "/ {
    header = $0
    sub(/^#include "/, "", header)
    sub(/".*/, "", header)
    target = layer_of(header)
    if (target > own) {
      printf "%s:%d: includes \"%s\" (layer %s) from layer %s\n", FILENAME, FNR, header,
             layers[target], layers[own]
      violations++
    }
  }
  END {
    if (violations) {
      printf "check-layers: %d include(s) go up the layers\n", violations > "/dev/stderr"
      exit 1
    }
    print "check-layers: every include in src/ follows the layers"
  }'
