"""`fieldmap serve` (the web app, the HTTP API and an OpenAI-compatible /v1) and `fieldmap mcp` (an MCP server over
stdio)."""

from __future__ import annotations

import argparse
import os

from app.console import common_options
from app.console import settings_of as _settings
from fieldmap.settings import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    from app.auth import Keys
    from app.workspaces import Served, parse_workspace, serve

    if args.concurrency < 1:
        raise ValueError(f"--concurrency must be at least 1, got {args.concurrency}")
    specs = [parse_workspace(spec) for spec in args.workspace] if args.workspace else None
    if specs is None:  # the default workspace (.fieldmap/ or FIELDMAP_WORKSPACE), named after its folder
        settings = _settings(args)
        specs = [(parse_workspace(str(settings.workspace))[0], str(settings.workspace))]
    served = [Served(name, Settings.load(workspace=path, config_file=args.config)) for name, path in specs]
    keys = Keys.load(args.keys, os.environ.get("FIELDMAP_API_KEYS"))
    serve(
        served,
        host=args.host,
        port=args.port,
        concurrency=args.concurrency,
        keys=keys,
        insecure=args.insecure,
        allow_hosts=args.allow_host,
        max_body=args.max_body,
    )
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from app.mcp_server import serve_stdio

    serve_stdio(_settings(args))
    return 0


def add_service_parsers(sub, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[common_options(workspace=False)],
        help="the web app, the HTTP API and an OpenAI-compatible /v1",
    )
    serve.add_argument(
        "--workspace",
        "-w",
        action="append",
        metavar="[NAME=]PATH",
        help="a workspace to serve, under /w/NAME/ (repeatable; default .fieldmap/ or FIELDMAP_WORKSPACE)",
    )
    serve.add_argument(
        "--keys",
        metavar="FILE",
        help="API keys and the workspaces each may read (README: keys); also FIELDMAP_API_KEYS",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="serve beyond loopback without keys: anyone who can connect reads everything",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="a Host name the server answers to besides this machine's (repeatable)",
    )
    serve.add_argument(
        "--max-body",
        type=int,
        default=1 << 20,
        metavar="BYTES",
        help="largest request body (default 1 MiB; larger gets 413)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000)
    # 2: this machine's cores; each concurrent request holds a query engine of its own (BENCHMARKS.md)
    serve.add_argument("--concurrency", type=int, default=2, help="requests answered at once (default 2)")
    serve.set_defaults(func=cmd_serve)
    mcp = sub.add_parser(
        "mcp", parents=[common], help="an MCP server over stdio: ask, search and entity tools for agents"
    )
    mcp.set_defaults(func=cmd_mcp)
