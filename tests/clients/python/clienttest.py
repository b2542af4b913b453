"""Shared setup for the python-consul tests: a client for the agent run_with_agent.py started.

python-consul reads CONSUL_HTTP_ADDR itself, so `consul.Consul()` is exactly what a user with
that variable set would write.
"""

import os
import sys
import unittest
import uuid
import warnings

try:
    import consul
except ImportError:  # fail loudly: a skipped suite would look green in CI
    sys.exit("python-consul is missing: apt-get install python3-consul (scripts/test.sh does); "
             "run these tests with /usr/bin/python3, where Debian installs it")

AGENT_ADDR = os.environ["CONSUL_HTTP_ADDR"]          # "127.0.0.4x:8500"
AGENT_IP = AGENT_ADDR.split(":")[0]
NODE_NAME = os.environ["PRAETOR_TEST_NODE_NAME"]


class ClientTestCase(unittest.TestCase):
    """Each test gets a fresh key prefix, removed afterwards, so tests never see each other."""

    def setUp(self):
        # python-consul 0.7.1 never closes its requests session; the ResourceWarnings that
        # unittest turns on would bury the test output.
        warnings.simplefilter("ignore", ResourceWarning)
        self.c = consul.Consul()
        self.prefix = f"{self._testMethodName}-{uuid.uuid4().hex[:8]}/"
        self.addCleanup(self.c.kv.delete, self.prefix, recurse=True)

    def key(self, name=""):
        return self.prefix + name


def main():
    unittest.main(verbosity=2)
