"""``-v`` works before the subcommand and after it (the README's ``tensorchicken run -v``)."""

from __future__ import annotations

import pytest

from edge.cli import build_parser


@pytest.mark.parametrize(("argv", "verbose"), [
    (["run", "-v"], True),
    (["-v", "run"], True),
    (["run", "--verbose"], True),
    (["run"], False),
    (["models", "list", "-v"], True),
    (["models", "list"], False),
])
def test_verbose_before_or_after_the_subcommand(argv: list[str], verbose: bool) -> None:
    assert build_parser().parse_args(argv).verbose is verbose
