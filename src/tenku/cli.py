"""The `tenku` command. Each command group lives next to the code it drives and
registers itself here; handlers parse arguments and call the library, nothing more."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from tenku import __version__
    from tenku.average import add_average_command
    from tenku.eval.cli import add_eval_command
    from tenku.generate_cli import add_generate_commands
    from tenku.modes_cli import add_mode_commands
    from tenku.vae_cli import add_vae_commands
    from tenku.world.cli import add_world_commands

    parser = argparse.ArgumentParser(prog="tenku", description="Open text-to-video on a laptop CPU.")
    parser.add_argument("--version", action="version", version=f"tenku {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser("train", help="training recipes")
    train_commands = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    add_generate_commands(commands, train_commands)
    add_mode_commands(commands)
    add_world_commands(commands)
    add_eval_command(commands)
    add_vae_commands(commands, train_commands)
    add_average_command(train_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        # User errors: one clear line, no traceback.
        print(f"tenku {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
