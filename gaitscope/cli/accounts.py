"""``gaitscope user add|list``: create and list web-application accounts from the server's shell.

Whoever can run this command on the server already controls the database, so no sign-in is asked; every
account change is still audited (actor ``cli:<OS user>``). There is no default password: it is typed at a
hidden prompt (twice) or read from standard input with ``--password-stdin`` (for provisioning scripts), and
must satisfy the password policy of :mod:`gaitscope.db.auth`. The person who runs ``user add`` knows the password,
so the new account must set its own at its first sign-in (``must_change_password``), as one created on the
Accounts page must.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from gaitscope.errors import InvalidInputError

ROLE_CHOICES = ("admin", "clinician", "researcher", "viewer")


def register_cli(subparsers) -> None:
    """Add ``user add`` and ``user list`` (call with ``sub = parser.add_subparsers(...)``)."""
    u = subparsers.add_parser("user", help="manage web-application accounts")
    actions = u.add_subparsers(dest="user_action", required=True)

    a = actions.add_parser("add", help="create an account (password from a prompt or --password-stdin)")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=ROLE_CHOICES)
    a.add_argument("--site", default=None, help="site whose patients a clinician/viewer sees (required for them)")
    a.add_argument("--care-team", default=None, help="narrow a clinician to one care team of the site")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    a.set_defaults(func=cmd_user_add)

    ls = actions.add_parser("list", help="list accounts (no password hashes)")
    ls.add_argument("--db", default=None)
    ls.set_defaults(func=cmd_user_list)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def read_password(from_stdin: bool, stdin: TextIO | None = None) -> str:
    if from_stdin:
        line = (stdin or sys.stdin).readline()
        password = line.rstrip("\r\n")
        if not password:
            raise InvalidInputError("No password was given on standard input.")
        return password
    if not sys.stdin.isatty():
        raise InvalidInputError("No terminal to ask for the password.", "Use --password-stdin in scripts.")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise InvalidInputError("The two passwords differ; nothing was created.")
    return first


def cmd_user_add(args) -> int:
    from gaitscope.db import open_database
    from gaitscope.db.auth import create_user

    password = read_password(args.password_stdin)
    db = open_database(args.db, auto_upgrade=True)
    try:
        with db.session() as s:
            u = create_user(s, args.username, password, args.role, site=args.site, care_team=args.care_team,
                            actor=_actor(), must_change_password=True)
            name, role, site = u.username, u.role, u.site
    finally:
        db.dispose()
    print(f"Created {role} account {name!r}" + (f" (site {site})" if site else "")
          + "; its owner must choose their own password at the first sign-in.")
    return 0


def cmd_user_list(args) -> int:
    from gaitscope.db import open_database
    from gaitscope.db.auth import list_users

    db = open_database(args.db, auto_upgrade=True)
    try:
        with db.read_session() as s:
            rows = [(u.username, u.role, u.site or "", u.care_team or "", "yes" if u.active else "no",
                     "yes" if u.must_change_password else "no",
                     u.locked_until.isoformat(timespec="minutes") if u.locked_until else "",
                     u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "")
                    for u in list_users(s)]
    finally:
        db.dispose()
    header = ("username", "role", "site", "care_team", "active", "must_set_password", "locked_until", "last_login")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0
