"""The ``jaxkd`` command.

Exit codes: 0 success, 1 a verification failed, 2 bad usage or bad input (one sentence on
stderr saying what is wrong; no partial results are written).

Compiled programs are kept in a persistent cache (:mod:`jaxkd.compilation_cache`;
``JAXKD_COMPILATION_CACHE=off`` disables it), so a second invocation skips compilation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one sentence, exit 2
        self.exit(EXIT_USAGE, f"jaxkd: error: {message} (see `{self.prog} --help`).\n")


def build_parser() -> argparse.ArgumentParser:
    from jaxkd import config
    from jaxkd.experiments import EXPERIMENTS

    parser = _Parser(prog="jaxkd", description="Uncertainty propagation in knowledge distillation.")
    parser.add_argument("--version", action="version", version=f"jaxkd {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run one experiment into a run directory")
    experiments = run.add_subparsers(dest="experiment", required=True, parser_class=_Parser, metavar="EXPERIMENT",
                                     help=f"one of: {', '.join(EXPERIMENTS)}")
    for name, module in EXPERIMENTS.items():
        # Every field of the experiment's Config is a flag (jaxkd.config): adding a field adds it.
        one = experiments.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0],
                                     description=(module.__doc__ or "").strip().splitlines()[0])
        one.add_argument("--preset", default="quick", choices=list(module.Config.preset_names()))
        one.add_argument("--out", type=Path, help="run directory (default runs/EXPERIMENT-MODEL-PRESET)")
        config.add_flags(one, module.Config)
        _add_run_options(one, "results.json")

    rep = sub.add_parser("reproduce", help="theory verify + every experiment, one report (the main job)")
    rep.add_argument("--preset", default="quick", choices=["quick", "paper"],
                     help="quick: minutes on a laptop CPU; paper: the study's protocol (default quick)")
    rep.add_argument("--out", type=Path, help="output folder (default runs/reproduce-PRESET)")
    rep.add_argument("--seed", type=config.integer, default=0, help="root seed of every experiment (default 0)")
    rep.add_argument("--only", type=config.number_list(str),
                     help="run a subset: theory, experiment names or names like bootstrap-mlp")
    rep.add_argument("--teacher", help="llm-* paper preset: teacher Hugging Face checkpoint folder (GPT-2)")
    rep.add_argument("--student", help="llm-* paper preset: student Hugging Face checkpoint folder (DistilGPT2)")
    rep.add_argument("--qa-file", help="llm-* paper preset: BioASQ JSON or [{question, answer}] JSON")
    _add_run_options(rep, "summary.json")

    theory = sub.add_parser("theory", help="closed forms of docs/theorems.md")
    tsub = theory.add_subparsers(dest="theory_command", required=True, parser_class=_Parser)
    verify = tsub.add_parser("verify", help="simulate every result through jaxkd and compare")
    verify.add_argument("--students", type=config.integer, default=1000, help="Monte Carlo students (default 1000)")
    verify.add_argument("--seed", type=config.integer, default=0)
    verify.add_argument("--only", type=config.number_list(str), help="result identifiers, e.g. 4.1,7.1")
    verify.add_argument("--json", type=Path, help="write the checks as a JSON list")

    data = sub.add_parser("datasets", help="list datasets and whether they are available offline")
    data.add_argument("--data-home", type=Path, help="scikit-learn cache folder for MNIST/Covertype")
    return parser


def _add_run_options(parser, written: str) -> None:
    """Options ``run`` and ``reproduce`` share: devices, processes, resume, JSON copy."""
    from jaxkd.config import integer

    parser.add_argument("--devices", type=integer, help="split student axes over this many devices (default: all visible)")
    parser.add_argument("--coordinator", metavar="HOST:PORT",
                        help="run as one of several processes (jax.distributed): the coordinator's address, "
                        "the same for every process; process 0 hosts it")
    parser.add_argument("--num-processes", type=integer, help="with --coordinator: how many processes take part")
    parser.add_argument("--process-id", type=integer, help="with --coordinator: this process's id, 0 .. N-1")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true", help="discard the run in --out")
    parser.add_argument("--json", type=Path, help=f"also write {written} to this path")


def _version() -> str:
    import jaxkd

    return jaxkd.__version__


def _cmd_run(args) -> int:
    from jaxkd.experiments import EXPERIMENTS
    from jaxkd.reproduce import run_experiment
    from jaxkd.runs import atomic_write_json

    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; give one.")
    from jaxkd import config

    module = EXPERIMENTS[args.experiment]
    given = config.overrides(args, module.Config)
    cfg = module.Config.from_preset(args.preset, **given)
    out = args.out or Path("runs") / f"{args.experiment}-{cfg.model}-{cfg.preset}"
    _check_json_path(args.json)
    results, report, wall = run_experiment(args.experiment, cfg, out, resume=args.resume, overwrite=args.overwrite)
    if args.json is not None:
        atomic_write_json(args.json, results)
    print(report)
    print(f"wrote {out}/ (results.json, report.md, figures) in {wall:.1f} s")
    return EXIT_OK


def _check_json_path(path) -> None:
    if path is not None and not path.parent.exists():
        raise ValueError(f"cannot write --json {path}: folder {path.parent} does not exist.")


def _cmd_reproduce(args) -> int:
    from jaxkd import reproduce
    from jaxkd.runs import atomic_write_json

    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite contradict each other; give one.")
    _check_json_path(args.json)
    the_plan = reproduce.plan(args.preset, seed=args.seed, only=args.only, teacher=args.teacher,
                              student=args.student, qa_file=args.qa_file)
    out = args.out or Path("runs") / f"reproduce-{args.preset}"
    start = time.perf_counter()
    summary, tables = reproduce.reproduce(the_plan, out, resume=args.resume, overwrite=args.overwrite)
    if args.json is not None:
        atomic_write_json(args.json, summary)
    print(tables)
    print(f"\nwrote {out}/report.md and report.html in {time.perf_counter() - start:.1f} s")
    failed = [t for t in summary["theorems"] if t["passed"] < t["checks"]]
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_verify(args) -> int:
    from jaxkd.runs import atomic_write_json
    from jaxkd.theory.verify import verify

    if args.json is not None and not args.json.parent.exists():
        args.json.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    checks = verify(num_students=args.students, seed=args.seed, results=args.only,
                    progress=lambda name: print(f"verifying {name} ...", file=sys.stderr, flush=True))
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


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # an option of another experiment (or none at all)
        where = getattr(args, "experiment", None) or args.command
        flag = next((x for x in extra if x.startswith("-")), extra[0])
        parser.exit(EXIT_USAGE, f"jaxkd: error: {flag} does not apply to {where} (see `jaxkd "
                    f"{args.command}{' ' + where if where != args.command else ''} --help`).\n")
    handler = {"run": _cmd_run, "reproduce": _cmd_reproduce, "theory": _cmd_verify, "datasets": _cmd_datasets}[args.command]
    try:
        from jaxkd import compilation_cache, compiler, sharding

        compiler.configure()  # before JAX starts its backends
        _join_cluster(args)
        compilation_cache.enable()
        with sharding.use_devices(getattr(args, "devices", None)):
            return handler(args)
    except ValueError as exc:
        print(f"jaxkd: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jaxkd: interrupted; finished points are saved, rerun with --resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
