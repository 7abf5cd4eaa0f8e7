#!/usr/bin/env bash
# Benchmark: validate 1,000 flow files with `flowrun validate`, against validating the same files
# with the schema alone in Python (PyYAML + jsonschema, Draft 7). Prints a table of medians.
#
#   bash bench/validate_bench.sh [RUNS]      (default 5 runs of each)
#
# It builds flowrun if needed and installs python3-yaml and python3-jsonschema if missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
install_missing_packages "${FLOWRUN_PACKAGES[@]}" python3 python3-yaml python3-jsonschema
FLOWRUN_BUILD_TARGET=flowrun build_flowrun "$ROOT/build-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
FLOWRUN="$ROOT/build-release/flowrun"
RUNS="${1:-5}"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/flows"
# 1,000 files: the bundled flows, copied round-robin with unique ids.
mapfile -t sources < <(ls "$ROOT"/flows/*.yaml | grep -v "\.test\.yaml$")
for i in $(seq 0 999); do
  src="${sources[$((i % ${#sources[@]}))]}"
  sed -E "0,/^id: /s/^id: (.*)$/id: \\1-copy-$i/" "$src" >"$WORK/flows/flow-$i.yaml"
done

cat >"$WORK/schema_only.py" <<'PY'
import glob, json, re, sys, yaml, jsonschema

# YAML 1.2 booleans only, as flowrun reads them: PyYAML would turn the key `on` into True.
class Loader(yaml.SafeLoader):
    pass
Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft7Validator(schema)
errors = 0
for path in sorted(glob.glob(sys.argv[2] + "/*.yaml")):
    with open(path) as f:
        doc = yaml.load(f, Loader=Loader)
    errors += sum(1 for _ in validator.iter_errors(doc))
if errors:
    print(f"{errors} schema errors", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
elapsed_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo "benchmark command failed: $*" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
# The two alternate, run by run, so that a change in the machine's load hits both alike.
: >"$WORK/flowrun.ms"
: >"$WORK/python.ms"
load_before=$(cut -d' ' -f1 /proc/loadavg)
for _ in $(seq "$RUNS"); do
  elapsed_ms "$FLOWRUN" validate "$WORK/flows" >>"$WORK/flowrun.ms"
  elapsed_ms /usr/bin/python3 "$WORK/schema_only.py" "$ROOT/schemas/flow.schema.json" "$WORK/flows" \
    >>"$WORK/python.ms"
done
load_after=$(cut -d' ' -f1 /proc/loadavg)
flowrun_ms=$(median <"$WORK/flowrun.ms")
python_ms=$(median <"$WORK/python.ms")

echo "| validating 1,000 flow files (median of $RUNS) | ms | files/s |"
echo "| --- | ---: | ---: |"
printf "| flowrun validate (schema + semantic checks + compile) | %d | %d |\n" "$flowrun_ms" $((1000000 / (flowrun_ms > 0 ? flowrun_ms : 1)))
printf "| Python jsonschema, schema only | %d | %d |\n" "$python_ms" $((1000000 / (python_ms > 0 ? python_ms : 1)))
awk -v a="$python_ms" -v b="$flowrun_ms" 'BEGIN { printf "\nflowrun is %.1fx faster while doing more.\n", a / (b > 0 ? b : 1) }'
echo "load average (1 min): $load_before before, $load_after after"
