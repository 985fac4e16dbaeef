"""``fanzha agent add|passwd|disable|role|list``: who may log in to the agent console, and who
of them may see the trends dashboard (``--role supervisor``)."""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.cli.reports import guarded
from bot.services.handoff import ROLES, TicketStore
from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        raw = sys.stdin.buffer.readline().rstrip(b"\r\n")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StorageError("the password is not valid UTF-8; nothing was changed") from None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise StorageError("the two passwords differ; nothing was changed")
    return first


def _tickets(create: bool) -> TicketStore:
    # Adding the first agent may create the database (and its key) in the project folder.
    return TicketStore(ReportStore(create=create))


def cmd_add(args: argparse.Namespace) -> int:
    password = _read_password(args)
    tickets = _tickets(create=True)
    try:
        tickets.add_agent(args.name, password, args.role)
    finally:
        tickets.store.close()
    print(f"agent {args.name} added" + (f" with the role {', '.join(args.role)}" if args.role else ""))
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    password = _read_password(args)
    tickets = _tickets(create=False)
    try:
        tickets.set_password(args.name, password)
    finally:
        tickets.store.close()
    print(f"password of {args.name} changed; their console sessions are ended on every server")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    tickets = _tickets(create=False)
    try:
        tickets.disable_agent(args.name)
    finally:
        tickets.store.close()
    print(f"agent {args.name} can no longer log in; their console sessions are ended on every server")
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    tickets = _tickets(create=False)
    try:
        tickets.set_roles(args.name, args.role)
    finally:
        tickets.store.close()
    print(f"{args.name} now has the roles: {', '.join(args.role) or 'none (duty desk only)'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    tickets = _tickets(create=False)
    try:
        for name, active in tickets.agents():
            roles = " ".join(sorted(tickets.roles_of(name))) if active else ""
            print(f"{name}\t{'active' if active else 'disabled'}\t{roles}".rstrip())
    finally:
        tickets.store.close()
    return 0


def add_agent_commands(commands: Any) -> None:
    """Register ``fanzha agent …`` on the main parser's subcommands."""
    agent = commands.add_parser("agent", help="manage who may log in to the agent console")
    sub = agent.add_subparsers(dest="agent_command", required=True)
    for name, handler, helptext in (
        ("add", cmd_add, "add an agent (asks for the password)"),
        ("passwd", cmd_passwd, "set a new password (and enable the agent again); ends the agent's console sessions"),
    ):
        command = sub.add_parser(name, help=helptext)
        command.add_argument("name", help="login name: 2-32 letters, digits, '.', '_' or '-'")
        command.add_argument("--password-stdin", action="store_true", help="read the password from the first line of standard input")
        command.set_defaults(func=guarded(handler, "agent"))
        if name == "add":
            _role_option(command)
    role = sub.add_parser("role", help="set an agent's roles (none given: duty desk only)")
    role.add_argument("name")
    _role_option(role)
    role.set_defaults(func=guarded(cmd_role, "agent"))
    disable = sub.add_parser("disable", help="stop an agent from logging in")
    disable.add_argument("name")
    disable.set_defaults(func=guarded(cmd_disable, "agent"))
    listing = sub.add_parser("list", help="list the agents")
    listing.set_defaults(func=guarded(cmd_list, "agent"))


def _role_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--role", action="append", default=[], choices=ROLES,
                         help="supervisor: may also see the trends dashboard (repeat for more roles)")
