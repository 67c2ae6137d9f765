"""The `crm` command for operators and developers."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from crm_common.auth import Role, TokenSigner
from crm_common.settings import PlatformSettings


def _cmd_dev(args: argparse.Namespace) -> int:
    from crm_platform.dev import run_dev

    return run_dev(Path(args.data_dir), load_demo=not args.no_demo)


def _cmd_migrate(args: argparse.Namespace) -> int:
    from crm_platform.migrate import migrate
    from crm_platform.services import DATABASE_SERVICES, service

    specs = [service(name) for name in args.service] if args.service else list(DATABASE_SERVICES)
    migrate(specs)
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    settings = PlatformSettings()
    signer = TokenSigner(settings.jwt_secret, settings.jwt_issuer)
    ttl = timedelta(hours=args.ttl_hours)
    if args.customer:
        token = signer.issue(str(uuid.UUID(args.customer)), Role.CUSTOMER, ttl)
    elif args.partner:
        token = signer.issue(args.partner, Role.PARTNER, ttl)
    else:
        token = signer.issue(args.subject or f"dev-{args.role}", Role(args.role), ttl)
    print(token)
    return 0


def _cmd_seed(args: argparse.Namespace) -> int:
    from crm_platform.seed import seed

    ids = seed(args.identity_url)
    print(f"created {len(ids)} demo customers")
    return 0


def _cmd_identity_import(args: argparse.Namespace) -> int:
    import asyncio

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from crm_common.db import create_engine, session_factory
    from identity.imports.service import import_csv
    from identity.settings import IdentitySettings

    path = Path(args.file)
    total = max(0, sum(1 for _ in path.open(encoding="utf-8-sig")) - 1)
    settings = IdentitySettings()

    async def run() -> int:
        engine = create_engine(settings.async_database_url(), pool_size=2, max_overflow=0)
        try:
            with Progress(
                TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            ) as bar:
                task = bar.add_task("rows", total=total)
                report = await import_csv(
                    path,
                    session_factory(engine),
                    settings,
                    chunk_size=args.chunk_size,
                    source=args.source,
                    progress=lambda n: bar.advance(task, n),
                )
        finally:
            await engine.dispose()
        print(
            f"{report.rows} rows: {report.created} created, {report.matched} matched, "
            f"{report.merged} merged, {report.conflicts} conflicts, {report.suppressed} suppressed, "
            f"{report.rejected} rejected"
        )
        for line in report.rejections[:20]:
            print("  " + line)
        return 0 if report.rejected == 0 else 2

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="CRM 2.0 platform operations")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole platform locally (what `make run` runs)")
    dev.add_argument("--data-dir", default=".data", help="where embedded engines keep their data")
    dev.add_argument("--no-demo", action="store_true", help="do not load the demo data set on first run")
    dev.set_defaults(handler=_cmd_dev)

    mig = commands.add_parser("migrate", help="create the services' databases if missing and migrate them")
    mig.add_argument("--service", action="append", choices=["identity", "campaign", "feedback"])
    mig.set_defaults(handler=_cmd_migrate)

    token = commands.add_parser("token", help="print a signed bearer token for the dev platform")
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--role", choices=["admin", "marketer", "agent", "analyst"])
    who.add_argument("--customer", metavar="CUSTOMER_ID")
    who.add_argument("--partner", metavar="SOURCE")
    token.add_argument("--subject", help="the staff member's id (default dev-<role>)")
    token.add_argument("--ttl-hours", type=float, default=12.0)
    token.set_defaults(handler=_cmd_token)

    identity = commands.add_parser("identity", help="identity service operations")
    identity_commands = identity.add_subparsers(dest="identity_command", required=True)
    importer = identity_commands.add_parser(
        "import",
        help="resolve a CSV of customers through the identity rules (columns: email, phone, ..., traits)",
    )
    importer.add_argument("file")
    importer.add_argument("--source", default="import", help="the source name recorded on every value")
    importer.add_argument("--chunk-size", type=int, default=2000)
    importer.set_defaults(handler=_cmd_identity_import)

    seed = commands.add_parser("seed", help="load the demo data set through the services' APIs")
    seed.add_argument("--identity-url", default="http://127.0.0.1:8001")
    seed.set_defaults(handler=_cmd_seed)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
