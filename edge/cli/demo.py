"""``tensorchicken demo``: the real pipeline on real footage, with no hardware and no network."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from pathlib import Path

from edge.cli.common import add_json_arg, add_mirror_arg, number_in, print_json
from edge.config.web import DEFAULT_ADDRESS
from edge.latency import format_summary


def register(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand."""
    p = sub.add_parser(
        "demo", help="run the real pipeline on a replayed clip and photo arrivals (mock pins)"
    )
    add_mirror_arg(p)
    add_json_arg(p)
    p.add_argument(
        "--duration",
        type=number_in(0, 86400, above_low=True),
        default=50.0,
        metavar="S",
        help="stop after S seconds at most (default 50)",
    )
    p.add_argument("--state-dir", type=Path, help="keep the event log and archive here")
    p.add_argument("--web", default=DEFAULT_ADDRESS, metavar="HOST:PORT",
                   help=f"serve the web page here while the demo runs (default {DEFAULT_ADDRESS}"
                   "; 'off' for none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its summary."""
    from edge.assets import AssetError
    from edge.cli import CliError
    from edge.cli.common import store_from
    from edge.config import ConfigError
    from edge.demo import run_demo

    store = store_from(args)
    try:
        result = run_demo(store, duration_s=args.duration, state_dir=args.state_dir,
                          web_address=None if args.web == "off" else args.web,
                          announce=None if args.json else _announce)
    except ConfigError as exc:
        raise CliError(str(exc), code=2) from None
    except AssetError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # --state-dir a file, or a folder it may not write
        raise CliError(str(exc), code=2) from None
    summary = result.summary
    if args.json:
        print_json(
            {
                "seconds": summary.seconds,
                "cameras": summary.cameras,
                "arrivals": [dataclasses.asdict(a) for a in result.arrivals],
                "latency_ms": summary.latency_ms,
                "state_dir": str(result.state_dir),
                "error": result.error,
            }
        )
        return 1 if result.error else 0
    print(f"TensorChicken demo: {summary.seconds:.1f} s ({summary.stop_reason})")
    for name, cam in summary.cameras.items():
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(cam["verdicts"].items())) or "none"
        print(
            f"  camera {name}: {cam['frames']} frames ({cam['skipped']} skipped), "
            f"{cam['motion_frames']} with motion, {cam['episodes']} motion events, "
            f"{cam['events']} logged; verdicts: {verdicts}; deterrent firings: {cam['firings']}"
        )
    print("  arrivals (photo shown → deterrent fired?):")
    for a in result.arrivals:
        fired = f"fired x{a.firings}" if a.firings else "no firing" if a.shown else "not shown"
        print(f"    {a.at_s:5.1f} s  {a.label:<10} {a.image:<36} {fired}")
    print("  latency per stage, ms (capture = sensor to loop; total = sensor to pin high):")
    for line in format_summary(summary.latency_ms):
        print(f"    {line}")
    print(f"  event log and archive: {result.state_dir}")
    where = shlex.quote(str(result.state_dir))
    print(f"  its events:         tensorchicken events --state-dir {where}")
    print(f"  label its crops:    tensorchicken label list --state-dir {where}")
    if result.error:
        raise CliError(f"failed: {result.error}")
    return 0


def _announce(url: str) -> None:
    print(f"TensorChicken demo: web page on {url} while it runs", flush=True)
