"""wsdtest's runner reports to automake: exit 0 when every case passed,
77 (SKIP) when a case was skipped, 1 on a failure; with
WSD_TEST_NO_SKIP=1 (set by .ci/run) a skipped case is a failure."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

DUMMY = """
import os, sys
sys.path.insert(0, %r)
import wsdtest as W

def test_passes():
    pass

def test_skips():
    raise W.Skip("not here")

def test_fails():
    assert False, "failed on purpose"

CASES = {"pass": test_passes, "skip": test_skips, "fail": test_fails}
W.run([CASES[n] for n in os.environ["DUMMY_CASES"].split(",")])
"""


def run_dummy(cases, no_skip=None):
    """Run a test file made of the named cases; (exit code, output)."""
    path = W.write_file(os.path.join(W.tmpdir(), "test_dummy.py"),
                        DUMMY % os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, DUMMY_CASES=",".join(cases))
    env.pop("WSD_TEST_NO_SKIP", None)
    if no_skip is not None:
        env["WSD_TEST_NO_SKIP"] = no_skip
    r = subprocess.run([sys.executable, path], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=W.T(30),
                       errors="replace")
    return r.returncode, r.stdout


def expect(cases, rc, no_skip=None, summary=None):
    got, out = run_dummy(cases, no_skip)
    assert got == rc, "cases %s (WSD_TEST_NO_SKIP=%s): exit %d, wanted " \
        "%d\n%s" % (cases, no_skip, got, rc, out)
    if summary is not None:
        assert summary in out, "no %r in\n%s" % (summary, out)
    return out


def test_all_pass_exit_0():
    expect(["pass", "pass"], 0, summary="2 passed, 0 failed")
    expect(["pass"], 0, no_skip="1")


def test_skip_exits_77():
    """automake counts exit 77 as SKIP, not PASS."""
    expect(["pass", "skip"], 77, summary="1 passed, 0 failed, 1 skipped")
    expect(["skip"], 77)
    expect(["skip"], 77, no_skip="0")
    expect(["skip"], 77, no_skip="")


def test_failure_wins_over_skip():
    expect(["skip", "fail", "pass"], 1,
           summary="1 passed, 1 failed, 1 skipped")


def test_no_skip_makes_a_skip_fail():
    out = expect(["pass", "skip"], 1, no_skip="1")
    assert "test_skips: FAIL" in out or "test_skips: SKIP" in out, out
    assert "WSD_TEST_NO_SKIP" in out, out


TESTS = [
    test_all_pass_exit_0,
    test_skip_exits_77,
    test_failure_wins_over_skip,
    test_no_skip_makes_a_skip_fail,
]

if __name__ == "__main__":
    W.run(TESTS)
