"""The floor: the least any SSH tool must do to learn whether the hosts need work.

Usage: python bench/floor.py SPEC.json OUT.json

A bare paramiko program: one thread per host connects (TCP_NODELAY, the bed's key, strict
host key checking) and runs ONE command that reads every piece of state the workload's
operations depend on (bench/workload.py STATE_COMMAND: stat and sha1sum of every managed
file, the account's passwd line, the package's dpkg status, the unit's enablement and
activity). No tool can decide "nothing to do" with less traffic or less work on the hosts,
so its time is the bottom line for a no-change run: pullinfra's no-change run is judged
against it (bench/README.md).

SPEC.json: {"user", "key", "known_hosts", "command", "hosts": [{"name", "address", "port"}]}.
OUT.json gets {name: {"exit": code, "stdout": text}}; the exit status is 1 when any host
could not be reached or its command failed. It runs under bench/reaper.py, timed like the
tools. It imports only paramiko and the standard library (so never the checkout).
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import sys

import paramiko


def read_state(host: dict, spec: dict) -> dict:
    """Connect to one host, run the state command, return its exit code and output."""
    sock = socket.create_connection((host["address"], host["port"]), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.load_host_keys(spec["known_hosts"])
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host["address"], port=host["port"], username=spec["user"],
                       key_filename=spec["key"], sock=sock, timeout=30, banner_timeout=30,
                       auth_timeout=30, allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command(spec["command"])
        text = stdout.read().decode(errors="replace")
        return {"exit": stdout.channel.recv_exit_status(), "stdout": text}
    finally:
        client.close()


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        spec = json.load(f)
    hosts = spec["hosts"]
    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        futures = {pool.submit(read_state, h, spec): h["name"] for h in hosts}
        for future in concurrent.futures.as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as exc:  # any failure fails the floor run
                results[futures[future]] = {"exit": -1, "stdout": f"{type(exc).__name__}: {exc}"}
    with open(argv[1], "w") as f:
        json.dump(results, f)
    failed = sorted(name for name, r in results.items() if r["exit"] != 0)
    if failed:
        print(f"floor: failed on {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
