"""``archspec sample``: draw distinct in-budget networks from a space file (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from .common import app
from .common import console, errors, escape, fail, untrusted, user_errors

if TYPE_CHECKING:
    from ..space import SampleResult


def rejections(result: "SampleResult", most: int = 6) -> str:
    """``params above 3M 1,204; duplicate 3`` (the commonest reasons first)."""
    items = sorted(result.rejected.items(), key=lambda kv: -kv[1])
    text = "; ".join(f"{reason} {count:,}" for reason, count in items[:most])
    rest = sum(count for _, count in items[most:])
    return text + (f"; other reasons {rest:,}" if rest else "") if items else "none"


@app.command()
def sample(
    space: Path = typer.Argument(..., help="The space file (YAML: base, vary, tie, budget)."),
    n: int = typer.Option(..., "-n", "--samples", help="How many distinct in-budget networks to draw."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws: the same seed gives the same files."),
    max_draws: Optional[int] = typer.Option(None, "--max-draws", help="Give up after this many draws (default 1000 x N)."),
    output: Path = typer.Option(..., "--output", "-o", help="Directory for <sha12>.yaml specs and index.jsonl."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes judging the draws (default: one "
                                          "per core from 500 samples); the samples are the same for any number."),
) -> None:
    """Draw N distinct networks from SPACE that resolve and fit its budget; write each as an expanded spec.

    Distinct means a different sha256 of the expanded spec (what `archspec expand` prints).
    DIR/index.jsonl has one line per sample: sha256, file, values (by vary path), params, macs.
    Exit 1 when --max-draws runs out first (the samples found are written).
    """
    from rich.progress import BarColumn, Progress, TextColumn

    from ..space import load_space, sample as draw
    from ..space.sample import SpaceTooSmall

    if n < 1:
        raise fail(f"-n {n}: give the number of samples to draw, at least 1")
    if max_draws is not None and max_draws < 1:
        raise fail(f"--max-draws {max_draws}: give at least 1")
    with user_errors():
        loaded = load_space(space)
    columns = (TextColumn("sampling"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} {task.description}"))
    with Progress(*columns, console=errors.made, transient=True) as bar:
        task = bar.add_task("", total=n)

        def show(result: "SampleResult") -> None:
            bar.update(task, completed=len(result.samples),
                       description=f"drawn {result.drawn:,}, rejected: {rejections(result, 2)}")

        try:
            result = draw(loaded, n, seed=seed, max_draws=max_draws, out=output, progress=show, workers=workers)
        except SpaceTooSmall as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail(f"interrupted: {output}/index.jsonl was not written (the spec files written are whole); "
                       "rerun with the same seed to get the same samples", code=130) from None
    summary = f"{result.drawn:,} drawn; rejected: {rejections(result)}"
    if not result.complete:
        errors.print(f"[bold red]error[/]: found {len(result.samples):,} of {n:,} samples in {result.drawn:,} draws "
                     f"(--max-draws); rejected: {escape(rejections(result))}; wrote those found to "
                     f"{untrusted(output)}", soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"wrote {len(result.samples):,} samples to {untrusted(output)} (index.jsonl): {escape(summary)}",
                  markup=True)
