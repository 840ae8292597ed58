"""``losskit bench``: losskit's fast paths against eager PyTorch, torch.compile and peers.

The measuring is :mod:`losskit.bench`; this module is its command line.
"""

from __future__ import annotations

import click

from losskit import bench

from .console import make_console, stdout_console
from .errors import bad_parameter


def _check_names(ctx, param, names):
    unknown = [n for n in names if n not in bench.LOSSES]
    if unknown:
        raise bad_parameter(f"among {', '.join(bench.LOSSES)}", ", ".join(map(repr, unknown)), "NAME")
    return names


@click.command("bench")
@click.argument("names", nargs=-1, callback=_check_names, metavar="[NAME]...")
@click.option("--quick", is_flag=True, help="small sizes and few repeats (tests, a fast look)")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="timed calls per measurement (median); default 7, 3 with --quick")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch.set_num_threads (numba follows); default: all cores")
@click.option("--no-memory", is_flag=True, help="skip the peak-memory subprocesses")
@click.option("--no-peers", is_flag=True, help="skip kornia, torchvision, smp and optax")
@click.option("--no-compile", is_flag=True, help="skip torch.compile (seconds of compiling per case)")
@click.option("--markdown", "markdown_file", default=None, type=click.Path(dir_okay=False),
              help="append the tables as Markdown, with the command, machine and date, to FILE")
@click.option("--list", "list_only", is_flag=True, help="list the losses, sizes and implementations, and exit")
def bench_command(names, quick, repeat, threads, no_memory, no_peers, no_compile, markdown_file, list_only):
    """Time losskit's hot losses (fwd, fwd+bwd) and their extra peak memory
    against eager PyTorch, torch.compile and installed peers. NAME selects
    losses (default: all): cross_entropy, binary_cross_entropy_with_logits,
    sigmoid_focal, softmax_focal, huber, mse."""
    if list_only:
        click.echo(bench.listing(quick))
        return
    if markdown_file:  # refuse a file that cannot be written now, not after minutes of timing
        try:
            open(markdown_file, "a").close()
        except OSError as error:
            raise bad_parameter("a file that can be written", f"{markdown_file!r} ({error.strerror or error})",
                                "--markdown") from None
    command = bench.command_text(names, quick, repeat, threads or bench.cores(), no_memory, no_peers, no_compile)
    bench.run(names, quick=quick, repeat=repeat, threads=threads, memory=not no_memory, peers=not no_peers,
              compile=not no_compile, markdown_file=markdown_file, command=command,
              out=stdout_console(width=200), progress=make_console())
