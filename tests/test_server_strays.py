"""A server the session started and holds no entry for (its start cut short by SIGTERM between the fork and
xprocess writing its pid) is stopped with the session's servers: nothing of a run outlives it."""

import subprocess
import sys

from fixtures.processes.servers import ServerFactory

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


class NoEntries:
    """An xprocess with no entries: a factory of this test's own, which must not take the session's servers, whose
    entries it would otherwise stop as leftovers of its pid at its start."""

    class rootdir:  # noqa: N801 - xprocess's attribute
        @staticmethod
        def check():
            return False


def test_closing_the_servers_stops_a_process_under_their_directory_that_no_entry_holds(tmp_path):
    factory = ServerFactory(NoEntries(), tmp_path / "servers")
    stray = subprocess.Popen([*SLEEPER, str(factory.base_dir / "upload-bench-0-limit-1" / "uploads")])
    elsewhere = subprocess.Popen([*SLEEPER, str(tmp_path / "servers-not-ours" / "uploads")])
    try:
        factory.close()
        stray.wait(timeout=15)  # gone long before its 60 s (its status read by the clean-up, which reaped it)
        assert elsewhere.poll() is None  # a directory of the same prefix, not under the factory's: left alone
    finally:
        for process in (stray, elsewhere):
            process.kill()
            process.wait()
