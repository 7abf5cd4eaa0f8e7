#!/usr/bin/env bash
# Clang's thread-safety analysis over the annotated code: every source file under src/ that, or
# whose header, includes common/thread_annotations.h is compiled with clang++ -fsyntax-only
# -Wthread-safety -Werror, using the flags of the build in BUILD_DIR (its compile_commands.json).
# The service itself is built with g++, which ignores the annotations. Exits non-zero on any
# warning, and prints it.
#
#   bash scripts/check-thread-safety.sh [BUILD_DIR]     (default: build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-$ROOT/build}"
command -v clang++ >/dev/null || { echo "check-thread-safety: clang++ is not installed" >&2; exit 1; }

python3 - "$ROOT" "$BUILD_DIR" <<'PY'
import json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

root, build_dir = sys.argv[1], sys.argv[2]
marker = '"common/thread_annotations.h"'


def annotated(source):
    for path in (source, source[:-3] + ".h"):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as text:
                if marker in text.read():
                    return True
    return False


def clang_command(entry):
    args = shlex.split(entry["command"])
    compiler = next(i for i, arg in enumerate(args) if arg.endswith(("c++", "g++", "clang++")))
    flags, skip = [], False
    for arg in args[compiler + 1:]:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg not in ("-c", entry["file"]):
            flags.append(arg)
    return ["clang++", *flags, "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
            "-Wno-unknown-warning-option", entry["file"]]


with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as database:
    entries = [entry for entry in json.load(database)
               if entry["file"].startswith(os.path.join(root, "src") + os.sep)
               and annotated(entry["file"])]


def check(entry):
    result = subprocess.run(clang_command(entry), cwd=entry["directory"], capture_output=True,
                            text=True)
    return entry["file"], result


failed = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    for path, result in pool.map(check, entries):
        if result.returncode != 0:
            failed += 1
            sys.stdout.write(result.stderr)
if failed:
    print(f"check-thread-safety: {failed} of {len(entries)} annotated files fail", file=sys.stderr)
    sys.exit(1)
print(f"check-thread-safety: {len(entries)} annotated files pass clang -Wthread-safety")
PY
