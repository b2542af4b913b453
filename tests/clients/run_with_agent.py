#!/usr/bin/env python3
"""Runs one client test program against its own `praetor agent -dev`.

Usage: run_with_agent.py --praetor BIN --address 127.0.0.4x --workdir DIR -- CMD...
       run_with_agent.py --npm-ci DIR --deps-only

Starts the agent on ADDRESS (HTTP on ADDRESS:8500), waits until /v1/status/leader names a
leader, runs CMD with CONSUL_HTTP_ADDR=ADDRESS:8500 (python-consul reads that variable itself;
the node tests read it too), and stops the agent by the pid it started, whatever happens. Exits
with CMD's exit code; prints the agent's log when CMD failed.

Why a launcher and not a ctest fixture: a fixture would share one agent between tests that run
in parallel and write the same keys; one agent per test program keeps each run independent.
"""

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

LEADER_DEADLINE_S = 20.0


def die_with_parent():
    # If ctest kills this launcher (timeout), the kernel kills the agent too: no stray agents
    # holding our addresses for the next run.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def npm_ci(node_dir):
    """`npm ci` into node_dir/node_modules unless it already holds this package-lock.json."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("node/npm not found: install them with `apt-get install nodejs npm` "
                 "(scripts/test.sh does)")
    with open(os.path.join(node_dir, "package-lock.json"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(node_dir, "node_modules", ".praetor-lock-sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == want:
                return
    except FileNotFoundError:
        pass
    print(f"==> npm ci in {node_dir}", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir, check=True)
    with open(stamp, "w") as f:
        f.write(want + "\n")


def leader(address):
    try:
        with urllib.request.urlopen(f"http://{address}:8500/v1/status/leader", timeout=2) as r:
            return json.loads(r.read().decode())
    except (OSError, ValueError):
        return ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--praetor")
    parser.add_argument("--address")
    parser.add_argument("--workdir")
    parser.add_argument("--npm-ci", dest="npm_ci")
    parser.add_argument("--deps-only", action="store_true",
                        help="only run npm ci (the ctest fixture that the node tests share)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if args.npm_ci:
        npm_ci(args.npm_ci)
    if args.deps_only:
        return 0
    if not cmd or not (args.praetor and args.address and args.workdir):
        parser.error("--praetor, --address, --workdir and a test command after -- are needed")

    os.makedirs(args.workdir, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="agent-", dir=args.workdir)
    log_path = os.path.join(run_dir, "agent.log")
    node_name = "client-test-" + args.address.replace(".", "-")
    with open(log_path, "wb") as log:
        agent = subprocess.Popen(
            [args.praetor, "agent", "-dev", "-node=" + node_name,
             "-bind=" + args.address, "-client=" + args.address],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent)

    def agent_log():
        with open(log_path, errors="replace") as f:
            return f.read()[-6000:]

    code = 1
    try:
        deadline = time.monotonic() + LEADER_DEADLINE_S
        while not leader(args.address):
            if agent.poll() is not None:
                print(f"agent exited with {agent.returncode} before electing a leader:\n"
                      + agent_log(), file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"no leader on {args.address} within {LEADER_DEADLINE_S}s:\n"
                      + agent_log(), file=sys.stderr)
                return 1
            time.sleep(0.1)  # polling a real process with a deadline, not synchronisation
        env = dict(os.environ)
        env["CONSUL_HTTP_ADDR"] = f"{args.address}:8500"
        env["PRAETOR_TEST_NODE_NAME"] = node_name
        code = subprocess.run(cmd, env=env).returncode
        if code != 0:
            print("---- agent log (tail) ----\n" + agent_log(), file=sys.stderr)
        return code
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=5)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        if code == 0:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
