"""Command-line dispatcher. Each command lives in its own module under ``uer_ray.cli`` and
exposes ``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when their
command runs, so ``run.py vocab`` never pays for importing Ray or torch."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys

from uer_ray.errors import UerRayError


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2), like every other
    user mistake: ``uer-ray CMD: error: ... (see uer-ray CMD --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "vocab": ("uer_ray.cli.vocab", "build a vocabulary (wordpiece, sentencepiece, char) from a corpus"),
    "preprocess": ("uer_ray.cli.preprocess", "turn corpus files into Parquet training shards"),
    "pretrain": ("uer_ray.cli.pretrain", "pre-train a model on shards with Ray Train"),
    "finetune": ("uer_ray.cli.finetune", "fine-tune on a downstream task"),
    "predict": ("uer_ray.cli.predict", "run a fine-tuned model over a file"),
    "generate": ("uer_ray.cli.generate", "generate text from a language model or an mt/ae model"),
    "convert": ("uer_ray.cli.convert", "convert checkpoints between Hugging Face and uer_ray"),
    "search": ("uer_ray.cli.search", "Ray Tune search over encoder x target x weight"),
    "zoo": ("uer_ray.cli.zoo", "list, show, publish, load, remove model-zoo entries"),
    "report": ("uer_ray.cli.report", "HTML report of a search, runs or the zoo"),
    "quickstart": ("uer_ray.cli.quickstart", "the whole loop on bundled sample data"),
    "modules": ("uer_ray.cli.modules", "the registered modules, their files and declared facts"),
    "embed": ("uer_ray.cli.embed", "sentence vectors of a text file (pooling, BERT-whitening)"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = _available()
    parser = argparse.ArgumentParser(
        prog="uer-ray",
        description="uer_ray: assemble-on-demand pre-training on Ray "
        "(embedding x encoder x weighted targets).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in commands.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        if argv and argv[0] not in ("-h", "--help"):
            from uer_ray.suggest import did_you_mean

            print(f"uer-ray: error: unknown command {argv[0]!r}{did_you_mean(argv[0], commands)} "
                  f"(commands: {', '.join(commands)})", file=sys.stderr)
            return 2
        parser.print_help()
        return 0
    name = argv[0]
    module = importlib.import_module(commands[name][0])
    cmd_parser = Parser(prog=f"uer-ray {name}", description=commands[name][1])
    module.add_arguments(cmd_parser)
    try:
        args = cmd_parser.parse_args(argv[1:])
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return int(e.code or 0)
    previous = _terminate_as_interrupt()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"uer-ray {name}: interrupted", file=sys.stderr)
        return 130
    except UerRayError as e:
        print(f"uer-ray {name}: error: {e}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _terminate_as_interrupt():
    """SIGTERM (``kill PID``, a scheduler stopping the job) unwinds like Ctrl-C, so cleanup code
    runs and outputs stay atomic. (Once ``ray.init`` runs, Ray installs its own handler, which
    exits through ``SystemExit``: cleanup runs then too.) Returns the handler to restore, or None
    when this is not the main thread or a handler is already set."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return None
    return signal.signal(signal.SIGTERM, _interrupt)


def console(argv: list[str] | None = None) -> None:
    """The command line's entry point (``run.py`` and the ``uer-ray`` script): ``main``, then
    ``exit_quickly`` with its status."""
    exit_quickly(main(argv))


def exit_quickly(code: int) -> None:
    """End the process with ``code`` the way a normal exit would, minus Python's teardown.

    After a command that imported torch, Ray and pyarrow (about 2,700 modules), the teardown
    (module clean-up, C++ destructors) took 0.7 s after the work was done and the result was
    printed. Everything else a normal exit does still happens, in the same order: threads that
    are not daemons are joined, atexit handlers run (Ray's shutdown, W&B, logging), stdout and
    stderr are flushed; then ``os._exit``.
    """
    import atexit
    import os
    import threading

    try:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
