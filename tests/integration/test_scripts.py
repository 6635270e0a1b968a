"""Exit status of the repository's shell scripts where it is cheap to
check without running them whole.

tests/install-test takes minutes, builds and installs the packages as
root; its ending (after the "# ---- end" line) is run here on its own
under the script's shell options, with getent stubbed, for every case
of "the user wsd existed before the test" and "it exists now".
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wsdtest as W  # noqa: E402

INSTALL_TEST = os.path.join(W.SRCDIR, "tests", "install-test")
END_MARK = "# " + "-" * 64 + " end\n"

PRELUDE = r"""set -euo pipefail
say() { printf '%s\n' "$*"; }
getent() { [ "$STUB_USER_NOW" = yes ]; }
user_existed=$STUB_USER_EXISTED
"""


def install_test_end():
    with open(INSTALL_TEST) as f:
        text = f.read()
    i = text.find(END_MARK)
    assert i >= 0, "no %r line in %s" % (END_MARK.strip(), INSTALL_TEST)
    return text[i:]


def run_end(existed, now):
    env = dict(os.environ, STUB_USER_EXISTED=existed, STUB_USER_NOW=now)
    r = subprocess.run(["bash", "-c", PRELUDE + install_test_end()],
                       env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=W.T(10), errors="replace")
    return r.returncode, r.stdout


def test_install_test_ends_0_whether_user_existed():
    """The user wsd left behind by an earlier install (Debian keeps
    system users on purge) must not turn a clean run into exit 1."""
    for existed, now in (("yes", "yes"), ("no", "yes"), ("no", "no")):
        rc, out = run_end(existed, now)
        assert rc == 0, "user existed %s, exists now %s: exit %d\n%s" % (
            existed, now, rc, out)
        assert ("remains after the purge" in out) == (now == "yes"), out
        assert ("This test created it" in out) == (
            existed == "no" and now == "yes"), out


TESTS = [
    test_install_test_ends_0_whether_user_existed,
]

if __name__ == "__main__":
    W.run(TESTS)
