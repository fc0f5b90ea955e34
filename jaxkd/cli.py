"""The ``jaxkd`` command.

Exit codes: 0 success, 1 a verification failed, 2 bad usage or bad input (one sentence on
stderr saying what is wrong, naming the flag as typed; no partial results are written), 130
interrupted.

The parser is built from the study's table (:data:`jaxkd.study.EXPERIMENTS`) and each
experiment's ``config.py``, which import no JAX, so ``--help``, a typo or a malformed value is
answered without importing JAX or any experiment's computation; that is imported when it runs.

Every command that takes ``--json PATH`` behaves the same: PATH's folder is created if it
does not exist, and a PATH that is a folder, or lies under a file, is refused before anything
runs.

Compiled programs are kept in a persistent cache (:mod:`jaxkd.compilation_cache`;
``JAXKD_COMPILATION_CACHE=off`` disables it), so a second invocation skips compilation.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import sys
import textwrap
import time
from pathlib import Path

from jaxkd import config, study

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

PRESET_HELP = "quick: every experiment in minutes on a laptop CPU; paper: the study's protocol (default: quick)"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one sentence, exit 2
        self.exit(EXIT_USAGE, f"jaxkd: error: {_explain(message)} (see `{self.prog} --help`).\n")


def _explain(message: str) -> str:
    """argparse's invalid-choice message with a "did you mean" and without the quoting."""
    m = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if not m:
        return message
    what, given, options = m.group(1), m.group(2), [o.strip(" '") for o in m.group(3).split(",")]
    close = ([o for o in options if o.lower() == given.lower()]
             or difflib.get_close_matches(given, options, n=1, cutoff=0.5))
    what = {"EXPERIMENT": "experiment", "COMMAND": "command"}.get(what, what)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown {what} {given!r}; {hint}choose from {', '.join(options)}"


class _Version(argparse.Action):
    """``--version``: computed when asked (it runs git), not when the parser is built."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from jaxkd import provenance

        commit, modified = provenance.git_commit()
        where = f"commit {commit}{' with local modifications' if modified else ''}" if commit else "not a git checkout"
        # On stdout, as argparse's own version action does (parser.exit would write to stderr).
        print(f"jaxkd {provenance.version()} ({where}; source sha256 {provenance.source_digest()[:12]})")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    """The whole parser, from the study's table and the experiments' configs (no JAX imported)."""
    parser = _Parser(prog="jaxkd", description="Measure and correct how uncertainty propagates through knowledge "
                     "distillation (Cui & Pei, \"How Is Uncertainty Propagated in Knowledge Distillation?\").")
    parser.add_argument("--version", action=_Version, help="print the version (with its git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="run one experiment into a run folder (results.json, figures, report)",
                         description="Run one experiment of the study into a run folder.")
    experiments = run.add_subparsers(dest="experiment", required=True, parser_class=_Parser, metavar="EXPERIMENT",
                                     title="experiments")
    for name, experiment in study.EXPERIMENTS.items():
        one = experiments.add_parser(
            name, help=experiment.summary, formatter_class=argparse.RawDescriptionHelpFormatter,
            description="\n\n".join(textwrap.fill(p, 79) for p in (
                experiment.description, "Every flag's default is shown per preset (and per model where it differs); "
                "the flags given override the preset.")))
        one.add_argument("--preset", default="quick", choices=list(experiment.Config.preset_names()), help=PRESET_HELP)
        one.add_argument("--out", type=Path, metavar="DIR", help="run folder (default: runs/EXPERIMENT-MODEL-PRESET)")
        config.add_flags(one, experiment.Config)
        _add_run_options(one, "results.json")

    rep = sub.add_parser("reproduce", help="theory verify + every experiment, one report (the main job)",
                         description="Verify the theory and run every experiment of the study into one folder "
                                     "with report.md, a self-contained report.html and summary.json.")
    rep.add_argument("--preset", default="quick", choices=["quick", "paper"], help=PRESET_HELP)
    rep.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: runs/reproduce-PRESET)")
    rep.add_argument("--seed", type=config.integer, default=0, metavar="S", help="root seed of every experiment (default: 0)")
    steps = [s.name for s in study.STEPS]
    only = ["theory", *study.EXPERIMENTS, *steps]
    rep.add_argument("--only", type=config.checked_list(only), metavar="NAME,...",
                     help="run a subset: theory, experiment names (all their models) or step names "
                          f"({', '.join(steps)})")
    rep.add_argument("--teacher", metavar="DIR", help="llm-* paper preset: teacher Hugging Face checkpoint folder (GPT-2)")
    rep.add_argument("--student", metavar="DIR", help="llm-* paper preset: student Hugging Face checkpoint folder (DistilGPT2)")
    rep.add_argument("--qa-file", metavar="FILE", help="llm-* paper preset: BioASQ JSON or [{question, answer}] JSON")
    rep.add_argument("--no-refits", action="store_true",
                     help="judge every claim at its deciding training budget only (faster; by default every step "
                          "whose students train to a budget runs again at twice it, and the claims are re-judged there)")
    _add_run_options(rep, "summary.json")

    theory = sub.add_parser("theory", help="closed forms of docs/theorems.md",
                            description="The closed forms of docs/theorems.md.")
    tsub = theory.add_subparsers(dest="theory_command", required=True, parser_class=_Parser, metavar="COMMAND")
    verify = tsub.add_parser("verify", help="simulate every result through jaxkd and compare with its closed form",
                             description="Simulate every result of docs/theorems.md through jaxkd's own code and "
                                         "compare with its closed form; exit 1 when a check fails.")
    verify.add_argument("--students", type=config.integer, default=1000, metavar="N",
                        help="Monte Carlo students per check, at least 100 (default: 1000)")
    verify.add_argument("--seed", type=config.integer, default=0, metavar="S", help="root seed (default: 0)")
    verify.add_argument("--only", type=config.checked_list(list(study.THEOREMS)), metavar="RESULT,...",
                        help=f"result identifiers to check (default: all of {', '.join(study.THEOREMS)})")
    verify.add_argument("--json", type=Path, metavar="FILE", help="also write the checks as a JSON list to this file")

    data = sub.add_parser("datasets", help="list datasets and whether they are available offline",
                          description="List the datasets and whether each is available offline.")
    data.add_argument("--data-home", type=Path, metavar="DIR", help="scikit-learn cache folder for MNIST/Covertype")
    return parser


def _add_run_options(parser, written: str) -> None:
    """Options ``run`` and ``reproduce`` share: devices, processes, resume, JSON copy."""
    parser.add_argument("--devices", type=config.integer, metavar="N", help="split student axes over this many devices (default: all visible)")
    parser.add_argument("--coordinator", metavar="HOST:PORT",
                        help="run as one of several processes (jax.distributed): the coordinator's address, "
                        "the same for every process; process 0 hosts it")
    parser.add_argument("--num-processes", type=config.integer, metavar="N", help="with --coordinator: how many processes take part")
    parser.add_argument("--process-id", type=config.integer, metavar="I", help="with --coordinator: this process's id, 0 .. N-1")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out (same options, same code)")
    parser.add_argument("--overwrite", action="store_true", help="discard the run in --out and start again")
    parser.add_argument("--json", type=Path, metavar="FILE", help=f"also write {written} to this file (its folder is created)")


def _show(value) -> str:
    return ",".join(str(x) for x in value) if isinstance(value, tuple) else str(value)


def _typed(argv: list[str], flag: str, value) -> str:
    """``flag`` and its value as the user typed them (the last occurrence wins, as in argparse)."""
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    for i in range(len(argv) - 1, -1, -1):
        if argv[i] == flag and i + 1 < len(argv):
            return f"{flag} {argv[i + 1]}"
        if argv[i].startswith(flag + "="):
            return f"{flag} {argv[i].split('=', 1)[1]}"
    return f"{flag} {_show(value)}"


def _make_config(cls, preset: str, given: dict, flags: dict[str, str], argv: list[str] = ()):
    """``cls.from_preset(preset, **given)``; a ValueError names the flag(s) the user typed that
    caused it: the first given value refused on its own, else the first pair refused together."""
    try:
        return cls.from_preset(preset, **given)
    except ValueError as exc:
        base = {"model": given["model"]} if "model" in given else {}

        def refused(fields):
            try:
                cls.from_preset(preset, **{**base, **{f: given[f] for f in fields}})
            except ValueError:
                return True
            return False

        names = list(given)
        culprit = next(([f] for f in names if refused([f])), None)
        if culprit is None:
            culprit = next(([a, b] for i, a in enumerate(names) for b in names[i + 1:] if refused([a, b])), None)
        if culprit is None:
            raise
        typed = " ".join(_typed(list(argv), flags[f], given[f]) for f in culprit)
        raise ValueError(f"{typed}: {exc}") from None


def _cmd_run(args) -> int:
    from jaxkd import document
    from jaxkd.reproduce import run_experiment
    from jaxkd.runs import atomic_write_json

    experiment = study.EXPERIMENTS[args.experiment]
    experiment.require()
    cls = experiment.Config
    given = config.overrides(args, cls)
    flags = {f["field"]: f["flag"] for f in config.field_specs(cls)}
    cfg = _make_config(cls, args.preset, given, flags, getattr(args, "argv", ()))
    out = args.out or Path("runs") / f"{args.experiment}-{cfg.model}-{cfg.preset}"
    args.out = out  # for the interruption message
    results, section, wall = run_experiment(args.experiment, cfg, out, resume=args.resume, overwrite=args.overwrite)
    if args.json is not None:
        atomic_write_json(args.json, results)
    print(document.to_markdown(section, ids=False))
    print(f"wrote {out}/ (results.json, report.md, report.html, figures) in {wall:.1f} s")
    return EXIT_OK


def _precheck(args) -> None:
    """The checks that need no experiment and no JAX, made before either is imported (so these
    usage errors come back as fast as argparse's own)."""
    if getattr(args, "resume", False) and getattr(args, "overwrite", False):
        raise ValueError("--resume and --overwrite contradict each other; give one.")
    if getattr(args, "devices", None) is not None and args.devices < 1:
        raise ValueError(f"--devices must be at least 1, got {args.devices}.")
    if args.command == "reproduce" and args.seed < 0:
        raise ValueError(f"--seed must be at least 0, got {args.seed}.")
    _check_json_path(getattr(args, "json", None))


def _check_json_path(path) -> None:
    """Refuse, before anything runs, a ``--json`` path that cannot become a file: a folder, or
    one under a file or an unwritable folder. A missing folder is created when it is written."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--json {path} is a folder; give a file path such as {path / 'results.json'}.")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write --json {path}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write --json {path}: folder {parent} is not writable.")


def _cmd_reproduce(args) -> int:
    from jaxkd import reproduce
    from jaxkd.runs import atomic_write_json

    the_plan = reproduce.plan(args.preset, seed=args.seed, only=args.only, teacher=args.teacher,
                              student=args.student, qa_file=args.qa_file, refits=not args.no_refits)
    out = args.out or Path("runs") / f"reproduce-{args.preset}"
    args.out = out
    start = time.perf_counter()
    outcome = reproduce.reproduce(the_plan, out, resume=args.resume, overwrite=args.overwrite)
    if args.json is not None:
        atomic_write_json(args.json, outcome.summary)
    print(outcome.tables)
    print(f"\nwrote {out}/report.md, report.html and summary.json in {time.perf_counter() - start:.1f} s")
    failed = [t for t in outcome.theorems if not t.all_passed]
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_verify(args) -> int:
    from jaxkd import progress
    from jaxkd.runs import atomic_write_json
    from jaxkd.theory.verify import verify

    start = time.perf_counter()
    names = list(args.only or study.THEOREMS)
    with contextlib.ExitStack() as stack:
        bar = None

        def step(name):  # the task opens with the first result: a refused input writes no progress line
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(progress.task("theory verify", total=len(names), unit="result"))
            else:
                bar.advance()
            bar.note(name)

        checks = verify(num_students=args.students, seed=args.seed, results=args.only, progress=step)
        if bar is not None:
            bar.advance()
    wall = time.perf_counter() - start
    width = max(len(c.case) for c in checks)
    print(f"{'result':6}  {'statement':{width}}  {'closed form':>12}  {'simulated':>12}  "
          f"{'tolerance':>10}  pass")
    for c in checks:
        print(f"{c.result:6}  {c.case:{width}}  {c.predicted:12.6g}  {c.observed:12.6g}  "
              f"{c.tolerance:10.3g}  {'yes' if c.passed else 'NO'}")
    failed = [c for c in checks if not c.passed]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed "
          f"({args.students} students, seed {args.seed}, {wall:.1f} s)")
    if args.json is not None:
        atomic_write_json(args.json, [c.to_json() for c in checks])
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_datasets(args) -> int:
    from jaxkd.data import DATASETS, availability

    print(f"{'name':14} {'task':15} {'available':10} source / description")
    for name, spec in DATASETS.items():
        ok, where = availability(name, args.data_home)
        print(f"{name:14} {spec.task:15} {'yes' if ok else 'no':10} {spec.description}; {where}")
    return EXIT_OK


def _join_cluster(args) -> None:
    cluster = [getattr(args, k, None) for k in ("coordinator", "num_processes", "process_id")]
    if all(c is None for c in cluster):
        return
    if any(c is None for c in cluster):
        raise ValueError("--coordinator, --num-processes and --process-id go together; give all three.")
    from jaxkd import distributed

    distributed.initialize(*cluster)


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string (in any subcommand) that takes a value."""
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _value_options(child)
        elif action.option_strings and action.nargs is None:
            found.update(action.option_strings)
    return found


_NEGATIVE = re.compile(r"^-(\d|\.\d)")


def _attach_negative_values(argv: list[str], options: set[str]) -> list[str]:
    """``--alphas -1,0`` as ``--alphas=-1,0``: argparse would take a value that starts with
    '-' and is not a plain number for an option and say the flag has no argument."""
    out, i = [], 0
    while i < len(argv):
        tok = argv[i]
        if tok in options and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
        else:
            out.append(tok)
            i += 1
    return out


def _unknown_option(parser, args, extra: list[str]) -> str:
    """The message for options that belong to no flag of the chosen command."""
    path = [args.command, *(x for x in (getattr(args, "experiment", None), getattr(args, "theory_command", None))
                            if x)]
    where, command = path[-1], " ".join(path)
    flag = next((x for x in extra if x.startswith("-")), extra[0]).split("=")[0]
    sub = parser
    for name in path:
        action = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
        sub = action.choices[name]
    known = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
    close = difflib.get_close_matches(flag, known, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"jaxkd: error: {flag} does not apply to {where}{hint} (see `jaxkd {command} --help`).\n"


def _interrupted(args) -> str:
    if args.command == "theory":
        return ("jaxkd: interrupted; theory verify keeps no partial results: run it again, or check fewer "
                "results with --only.")
    out = getattr(args, "out", None)
    where = f" in {out}" if out is not None else ""
    return f"jaxkd: interrupted; finished points are saved{where}: rerun the same command with --resume."


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(_attach_negative_values(argv, _value_options(parser)))
    if extra:  # an option of another experiment (or none at all)
        parser.exit(EXIT_USAGE, _unknown_option(parser, args, extra))
    args.argv = argv
    handler = {"run": _cmd_run, "reproduce": _cmd_reproduce, "theory": _cmd_verify, "datasets": _cmd_datasets}[args.command]
    try:
        _precheck(args)
        from jaxkd import compilation_cache, compiler, progress

        progress.quiet_third_party()
        compiler.configure()  # before JAX starts its backends
        _join_cluster(args)
        compilation_cache.enable()
        from jaxkd import sharding

        with sharding.use_devices(getattr(args, "devices", None)):
            return handler(args)
    except ValueError as exc:
        print(f"jaxkd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:
        from jaxkd._extras import MissingExtra

        if not isinstance(exc, MissingExtra):
            raise
        print(f"jaxkd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
