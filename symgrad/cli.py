"""Command line: parse arguments, call the library, print. No mathematics here.

``main(argv) -> int`` is the whole program (``symgrad`` and ``python -m symgrad`` call it). Input
errors become exit status 2 and one ``symgrad: error: ...`` line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from symgrad import options
from symgrad.cli_args import PROG, network_arguments, output_argument, version_argument
from symgrad.cli_documents import document_commands, framing_options
from symgrad.cli_example import (
    attach_signed_values,
    example_options,
    example_seed,
    given_from_args,
)
from symgrad.errors import SymgradError

if TYPE_CHECKING:
    from symgrad.codegen.config import Target
    from symgrad.derivation import Derivation
    from symgrad.render.document import Framing
    from symgrad.render.notes import NotesOptions
    from symgrad.spec import NetworkSpec


class UsageError(SymgradError):
    """Arguments argparse could not accept."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports errors as one line, in symgrad's format."""

    def error(self, message: str) -> NoReturn:
        hint = f"; see '{self.prog} --help'"
        raise UsageError(message + hint)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand per output, with the options the README lists."""
    parser = _Parser(
        prog=PROG,
        description="Derive, prove, typeset and generate backpropagation for a feed-forward "
        "network of given layer sizes.",
    )
    version_argument(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    derive = commands.add_parser("derive", help="print the derivation in the terminal")
    network_arguments(derive)
    derive.add_argument(
        "--show",
        default="derivation",
        choices=["derivation", "program", "scalar-program"],
        help="derivation (default); program: the array statements generated code is printed "
        "from, each with the step it implements; scalar-program: the same one scalar at a time",
    )
    version_argument(derive)

    document_commands(commands)

    _example_command(commands)
    from symgrad.cli_exercises import exercises_command

    exercises_command(commands, network_arguments, framing_options, version_argument)
    _codegen_command(commands)
    _check_command(commands)
    return parser


def _example_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    example = commands.add_parser(
        "example", help="print the numbers of one sample through the network, forward and back"
    )
    network_arguments(example)
    example_options(example)
    version_argument(example)


def _codegen_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    codegen = commands.add_parser("codegen", help="write code computing the loss and gradients")
    network_arguments(codegen)
    for option in options.CODE:
        option.add_to(codegen)
    output_argument(codegen)
    version_argument(codegen)
    _export_command(commands)


def _export_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = commands.add_parser(
        "export-weights",
        help="write parameters saved in a .npz file as a C initialiser for a --target c network",
    )
    export.add_argument(
        "params", metavar="PARAMS.npz", help="W1, b1, ... as numpy.savez saves them"
    )
    export.add_argument(
        "--header",
        required=True,
        metavar="NAME.h",
        help="the header symgrad codegen --target c wrote for the network (NAME alone: NAME.h)",
    )
    output_argument(export)
    version_argument(export)


def _check_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    check = commands.add_parser(
        "check",
        help="check code made by symgrad codegen against symgrad's own evaluation and central "
        "differences, in a sandbox",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument(
        "--seed", default="0", help="seed of the parameters and data checked at (default 0)"
    )
    check.add_argument(
        "--batch",
        default="8",
        help="rows of the larger batch checked, besides one sample (default 8)",
    )
    check.add_argument(
        "--tolerance",
        help="largest relative error that passes (default 1e-6; 1e-3 for float32-only code)",
    )
    check.add_argument(
        "--arrays",
        default="numpy",
        metavar="LIBS",
        help="array libraries an array-API module is checked on, a comma list of numpy, "
        "torch, jax (default numpy)",
    )
    check.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a limit (seconds, megabytes): time, memory, compile-time, "
        "compile-memory, disk, file-size, analysis-time, analysis-memory, reference-time, "
        "processes, open-files; repeatable",
    )
    check.add_argument(
        "--unsandboxed",
        action="store_true",
        help="run the file without bubblewrap's sandbox (only for code you trust, where "
        "bubblewrap or user namespaces are missing)",
    )
    version_argument(check)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line; return the exit status (0 done, 1 a check failed, 2 bad input)."""
    out = stdout if stdout is not None else sys.stdout
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(attach_signed_values(arguments))
        return _run(args, arguments, out)
    except SymgradError as exc:
        for problem in getattr(exc, "problems", None) or (str(exc),):
            _error(problem)
        return 2
    except RecursionError:
        _error("the input is too deeply nested to process")
        return 2
    except MemoryError:
        _error("not enough memory for this request; use smaller layer sizes")
        return 2
    except BrokenPipeError:
        # The reader went away (symgrad ... | head): stop quietly, as other command-line tools
        # do, with the status of a process ended by SIGPIPE.
        _detach(out)
        return 141
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug in symgrad: still one line, never a traceback
        _error(f"internal error ({type(exc).__name__}: {exc}); please report it with the command")
        return 70


def _detach(out: TextIO) -> None:
    """Point the process's stdout at /dev/null so the final flush at exit cannot fail again."""
    if out is not sys.stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _error(message: str) -> None:
    line = " ".join(message.split())
    sys.stderr.write(f"{PROG}: error: {line}\n")


def _warn_about_domains(spec: NetworkSpec) -> None:
    """One warning line for a custom activation that is not defined on all reals."""
    from symgrad.domain import restriction_warning

    for activation in dict.fromkeys(spec.activations):
        warning = restriction_warning(activation)
        if warning is not None:
            sys.stderr.write(f"{PROG}: warning: {' '.join(warning.split())}\n")


def _run(args: argparse.Namespace, arguments: list[str], out: TextIO) -> int:
    if args.command == "check":
        return _check(args, out)
    if args.command == "export-weights":
        return _export_weights(args, out)
    from symgrad.pipeline import derive
    from symgrad.spec import NetworkSpec

    _refuse_file_name_as_output(args.output)
    kinds = {option.dest: getattr(args, option.dest) for option in options.layer_kinds()}
    spec = NetworkSpec.parse(args.sizes, args.activation, args.output, args.loss, kinds)
    if args.command == "exercises":
        from symgrad.cli_exercises import run_exercises

        return run_exercises(args, spec, out)
    if args.command == "codegen":
        from symgrad.codegen import check_blas, target

        chosen = target(args.target)
        style = args.style if args.style is not None else chosen.styles[0]
        if args.blas is None:
            chosen.check(spec, style, args.dtype)  # refuse before deriving and proving
        else:
            check_blas(chosen, spec, style, args.dtype, args.blas)
        _check_output_file(args.out, chosen)
        _warn_about_domains(spec)
    notes_options = None
    given = given_from_args(spec, args)  # none outside the example and the documents
    if args.command in ("latex", "markdown", "slides", "html"):
        from symgrad.render.notes import NotesOptions
        from symgrad.render.notes.options import parse_sections

        notes_options = NotesOptions(
            getattr(args, "expand", None),
            getattr(args, "checks", None),
            getattr(args, "label_prefix", ""),
            example_seed(args, given),
            args.audience,
            _framing(args),
            parse_sections(args.sections),
            given=given,
        )
        notes_options.resolved(spec.depth)  # refuse before the work of deriving and proving
    if args.command == "example":
        from symgrad.worked import check_seed

        check_seed(args.seed)  # symgrad example prints a network of any size
    elif notes_options is not None and notes_options.example is not None:
        from symgrad.worked import check_example

        check_example(spec, notes_options.example)
    # generated code has input_gradient, which the notes leave out
    derivation = derive(spec, method=args.proof, input_gradient=args.command == "codegen")
    if args.command == "example":
        from symgrad.worked import worked_example

        numbers = worked_example(derivation, args.seed, given)
        if args.format == "json":
            _emit(out, numbers.to_json())
        else:
            from symgrad.render.example import render_example_text

            _emit(out, render_example_text(derivation, numbers))
        return 0
    if args.command == "derive":
        _emit(out, _show(derivation, args.show))
        return 0
    if args.command == "codegen":
        _write_code(derivation, args, style, out)
    else:
        _write_document(derivation, args, notes_options, out)
    return 0


def _write_code(derivation: Derivation, args: argparse.Namespace, style: str, out: TextIO) -> None:
    from symgrad.codegen import generate

    stem = Path(args.out).stem if args.out is not None else "mlp"
    files = generate(derivation, args.target, style, args.dtype, name=stem, blas=args.blas)
    if args.out is None:
        _emit(out, files[0].text)
        return
    from symgrad import fileio

    if len(files) == 1:
        fileio.write_atomic(args.out, files[0].text)
    else:
        path = Path(args.out)
        fileio.write_all_atomic([(path.with_suffix(f.suffix), f.text) for f in files])


def _framing(args: argparse.Namespace) -> Framing:
    from symgrad.render.document import Framing

    return Framing(args.title, args.author, args.course, args.date)


def _write_document(
    derivation: Derivation,
    args: argparse.Namespace,
    notes_options: NotesOptions | None,
    out: TextIO,
) -> None:
    """The notes (LaTeX or Markdown) or the slides, to ``--out`` or the terminal."""
    if args.command == "latex":
        from symgrad.render.notes import render_latex

        text = render_latex(derivation, fragment=args.fragment, options=notes_options)
    elif args.command == "html":
        from symgrad.render.html import render_html

        text = render_html(derivation, options=notes_options, fragment=args.fragment)
    elif args.command == "summary":
        from symgrad.render.notes.handout import render_summary

        text = render_summary(derivation, args.format, _framing(args))
    elif args.command == "slides":
        from symgrad.render.slides import render_slides

        assert notes_options is not None
        text = render_slides(
            derivation,
            example=notes_options.example,
            audience=args.audience,
            framing=_framing(args),
            sections=notes_options.sections,
            given=notes_options.given,
            expand=notes_options.expand,
            handout=args.handout,
        )
    else:
        from symgrad.render.notes import render_markdown

        text = render_markdown(derivation, options=notes_options)
    if args.out is not None:
        from symgrad.fileio import write_atomic

        write_atomic(args.out, text)
    else:
        _emit(out, text)


def _check(args: argparse.Namespace, out: TextIO) -> int:
    from symgrad.check.limits import Limits
    from symgrad.check.run import check_file

    limits = Limits().with_settings(args.limit)
    if args.unsandboxed:
        sys.stderr.write(
            f"{PROG}: warning: --unsandboxed: {args.file} runs without bubblewrap's "
            "namespaces and read-only view, with only limits, an empty environment and the "
            "system-call filter where libseccomp is; use it only on code you trust\n"
        )
    result = check_file(
        args.file,
        seed=_integer("--seed", args.seed),
        batch=_integer("--batch", args.batch),
        tolerance=None if args.tolerance is None else _number("--tolerance", args.tolerance),
        limits=limits,
        arrays=[part.strip() for part in args.arrays.split(",") if part.strip()],
        unsandboxed=args.unsandboxed,
    )
    _emit(out, result.report())
    return 0 if result.passed else 1


def _export_weights(args: argparse.Namespace, out: TextIO) -> int:
    """``symgrad export-weights PARAMS.npz --header NAME.h [-o FILE]``."""
    from symgrad.codegen.c.weights import export_weights, header_path
    from symgrad.header import shell_quote

    words = ["symgrad", "export-weights", args.params, "--header", args.header]
    stem = Path(args.out).stem if args.out is not None else "weights"
    command = " ".join(shell_quote(word) for word in words)
    text = export_weights(Path(args.params), header_path(args.header), command, stem)
    if args.out is None:
        _emit(out, text)
    else:
        from symgrad.fileio import write_atomic

        write_atomic(args.out, text)
    return 0


def _show(derivation: Derivation, what: str) -> str:
    """``symgrad derive``'s printout: the derivation, or the program lowered from it."""
    if what == "derivation":
        from symgrad.render.terminal import render_terminal

        return render_terminal(derivation)
    from symgrad.program import eliminate_common_subexpressions, lower_matrix, lower_scalar
    from symgrad.program.show import show

    lower = lower_matrix if what == "program" else lower_scalar
    return show(eliminate_common_subexpressions(lower(derivation)), derivation)


def _integer(option: str, text: str) -> int:
    """An option's value as a non-negative integer, or a one-line error."""
    if not text.strip().isdigit() or len(text.strip()) > 18:
        raise UsageError(f"{option} must be a non-negative integer, got {text!r}")
    return int(text.strip())


def _number(option: str, text: str) -> float:
    """An option's value as a number, or a one-line error."""
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{option} must be a number such as 1e-6, got {text!r}") from None


def _refuse_file_name_as_output(output: str | None) -> None:
    """``--output mlp.py``: --output names the output function; files go to -o."""
    if output is not None and any(mark in output for mark in "./\\"):
        raise UsageError(
            f"--output is the output function (softmax, sigmoid or identity), not a file; "
            f"to write to {output!r}, use -o {shlex.quote(output)}"
        )


def _check_output_file(out: str | None, chosen: Target) -> None:
    """A target that writes several files (``NAME.c`` and ``NAME.h``) needs ``-o NAME.c``."""
    if not chosen.needs_output_file:
        return
    if out is None or Path(out).suffix != chosen.suffix:
        raise UsageError(
            f"--target {chosen.name} writes several files named after -o; give -o "
            f"DIR/NAME{chosen.suffix}"
        )


def _emit(out: TextIO, text: str) -> None:
    try:
        out.write(text)
    except UnicodeEncodeError:
        # A terminal that is not UTF-8: write the bytes rather than fail.
        buffer = getattr(out, "buffer", None)
        if buffer is None:
            raise
        out.flush()
        buffer.write(text.encode("utf-8"))
    out.flush()


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s status."""
    sys.exit(main())
