"""python -m tests.testbed up N | down [BED_ID] | inventory [NAME=HOST ...] | status"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tests.testbed.bed import Bed, BedError, clean_stale_beds, list_beds

CHECKOUT = Path(__file__).resolve().parents[2]
# Which bed `up` started from this checkout (tests point this elsewhere to leave yours alone).
CURRENT = Path(os.environ.get("PULLINFRA_BED_CURRENT", CHECKOUT / ".cache" / "testbed-bed"))


def _current_id(explicit: str | None) -> str:
    bed_id = explicit or os.environ.get("PULLINFRA_BED")
    if not bed_id and CURRENT.is_file():
        bed_id = CURRENT.read_text().strip()
    if not bed_id:
        raise BedError("no bed: run `python -m tests.testbed up N` first (or pass --bed ID)")
    return bed_id


def cmd_up(args: argparse.Namespace) -> int:
    cleaned = clean_stale_beds()
    if cleaned:
        print(f"cleaned stale beds: {' '.join(cleaned)}", file=sys.stderr)
    if CURRENT.is_file():
        old = CURRENT.read_text().strip()
        state = next((b for b in list_beds() if b["bed_id"] == old), None)
        if state is not None and not args.replace:
            raise BedError(f"bed {old} from this checkout is still up: `down` it, pass "
                           "--replace, or set PULLINFRA_BED_CURRENT to another file")
        if state is not None:
            Bed.load(old).down()
            print(f"took down this checkout's previous bed {old}", file=sys.stderr)
        CURRENT.unlink()
    repo = None
    if not args.no_apt:
        from tests.testbed.aptrepo import AptRepoError, ensure_repo

        try:
            repo = ensure_repo().path
        except (AptRepoError, OSError) as exc:
            print(f"warning: no local apt repository: {exc}", file=sys.stderr)
    t0 = time.monotonic()
    bed = Bed.create(0, apt_repo=repo, owner="cli", checkout=str(CHECKOUT))
    CURRENT.parent.mkdir(exist_ok=True)
    CURRENT.write_text(bed.bed_id + "\n")
    t1 = time.monotonic()
    try:
        bed.add_hosts(args.n)
        if args.systemd:
            bed.add_hosts(args.systemd, systemd=True)
    except BaseException:
        bed.down()
        CURRENT.unlink(missing_ok=True)
        raise
    t2 = time.monotonic()
    print(f"bed {bed.bed_id}: {args.n + args.systemd} hosts in {bed.block} accepting SSH "
          f"{t2 - t0:.2f}s after start ({t2 - t1:.2f}s for the hosts)")
    print(f"client key:  {bed.client_key}")
    print(f"known_hosts: {bed.known_hosts}")
    for h in bed.hosts:
        print(f"  {h.name}{' (systemd)' if h.systemd else ''}  {h.address}  "
              f"ssh -i {bed.client_key} "
              f"-o UserKnownHostsFile={bed.known_hosts} root@{h.address}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    ids = []
    if args.bed or os.environ.get("PULLINFRA_BED") or CURRENT.is_file():
        ids.append(_current_id(args.bed))
    for bed_id in ids:
        try:
            Bed.load(bed_id).down()
            print(f"bed {bed_id} down")
        except BedError as exc:
            print(f"{exc}", file=sys.stderr)
    if not args.bed:
        CURRENT.unlink(missing_ok=True)
    for bed_id in clean_stale_beds():
        print(f"stale bed {bed_id} cleaned")
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    bed = Bed.load(_current_id(args.bed))
    by_name = {h.name: h for h in bed.hosts}
    if args.mapping:
        hosts = {}
        for item in args.mapping:
            name, _, host = item.partition("=")
            if host not in by_name:
                raise BedError(f"no host {host!r} in bed {bed.bed_id}")
            hosts[name] = by_name[host]
    else:
        hosts = by_name
    sys.stdout.write(bed.inventory(hosts))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    for st in list_beds():
        owner = st.get("owner", {})
        print(f"{st['bed_id']}  hosts={len(st.get('hosts', []))}  "
              f"owner={owner.get('kind')}:{owner.get('pid')}  "
              f"{'STALE' if st['stale'] else 'live'}  {owner.get('checkout') or ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a bed of N hosts")
    up.add_argument("n", type=int)
    up.add_argument("--systemd", type=int, default=0, metavar="M",
                    help="also M hosts that boot systemd (after the N plain ones)")
    up.add_argument("--no-apt", action="store_true", help="no local apt repository")
    up.add_argument("--replace", action="store_true", help="take down this checkout's bed first")
    down = sub.add_parser("down", help="take down this checkout's bed and any stale bed")
    down.add_argument("--bed", help="bed id (default: this checkout's)")
    inv = sub.add_parser("inventory", help="print a pyinfra inventory for the running bed")
    inv.add_argument("--bed", help="bed id (default: this checkout's)")
    inv.add_argument("mapping", nargs="*", metavar="NAME=HOST",
                     help="inventory names for bed hosts, e.g. web-01=h01 db-01=h04")
    sub.add_parser("status", help="list the beds on this machine")
    args = p.parse_args(argv)
    try:
        return {"up": cmd_up, "down": cmd_down, "inventory": cmd_inventory,
                "status": cmd_status}[args.cmd](args)
    except BedError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
