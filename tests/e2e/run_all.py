"""Runs every end-to-end test (tests/e2e/test_*.py, then the crash test) against $FLOWRUN_BIN
and prints one closing line: `N passed, N failed`.

    FLOWRUN_BIN=build/flowrun /usr/bin/python3 tests/e2e/run_all.py [--no-crash]
"""

import glob
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        suite.addTests(loader.loadTestsFromName(os.path.basename(path)[:-3]))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    if "--no-crash" not in sys.argv:
        sys.stdout.flush()
        crash = subprocess.run([sys.executable, os.path.join(HERE, "crash_test.py")])
        if crash.returncode == 0:
            passed += 1
        else:
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
