"""``jaxkd reproduce``: verify the theory, run every experiment of the study, write one report.

Layout of the output folder::

    config.json           preset, seed, the steps planned
    theory/               theory verify as a run folder (one point per docs/theorems.md result)
    <experiment>-<model>/ one run folder per experiment (config, points, results, figures, report)
    points/               wall time of each finished step
    summary.json          theorem verdicts, claim verdicts with their evidence, timings
    report.md             every section's tables and figures next to what they test
    report.html           the same, figures embedded (one self-contained file)

Every part is resumable: a killed reproduce continues with ``--resume`` from the last grid
point any experiment finished, and the report is written only once everything is complete.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from jaxkd import _validation as v
from jaxkd.runs import RunDir, read_json, to_jsonable
from jaxkd.study import STEPS, Step

THEORY_STUDENTS = {"quick": 1000, "paper": 2000}  # base students of theory verify (docs/theorems.md)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a reproduce run will do: validated configs for every step, built up front so bad
    input fails before anything is computed."""

    preset: str
    seed: int
    theory_students: int | None            # None: theory verify is not part of this run
    steps: tuple[tuple[Step, object], ...]  # (step, experiment Config)

    def config(self) -> dict:
        return {"command": "reproduce", "preset": self.preset, "seed": self.seed,
                "theory_students": self.theory_students, "steps": [s.name for s, _ in self.steps]}


def plan(preset: str = "quick", *, seed: int = 0, only=None, teacher=None, student=None,
         qa_file=None) -> Plan:
    """Build the :class:`Plan`.

    Args:
      preset: "quick" (minutes on a laptop CPU) or "paper" (the study's protocol).
      seed: root seed of every experiment.
      only: optional names to run: "theory", experiment names ("bootstrap" runs both models)
        or step names ("bootstrap-mlp").
      teacher, student, qa_file: the llm-* experiments' paper-preset inputs (Hugging Face
        checkpoint folders, QA JSON).

    Raises:
      ValueError: unknown preset or name, bad seed, or a config an experiment rejects (for
        example ``--preset paper`` without the GPT-2 checkpoints while llm-* steps are planned).
    """
    from jaxkd.experiments import EXPERIMENTS

    v.check_choice("preset", preset, list(THEORY_STUDENTS))
    v.check_int("seed", seed, minimum=0)
    names = {"theory"} | {s.name for s in STEPS} | {s.experiment for s in STEPS}
    wanted = None if only is None else set(only)
    for name in wanted or ():
        if name not in names:
            raise ValueError(f"--only {name!r} is not part of the study; choose from theory, "
                             f"{', '.join(sorted({s.experiment for s in STEPS}))} or names like teacher-noise-mlp.")
    chosen = [s for s in STEPS if wanted is None or s.name in wanted or s.experiment in wanted]
    if preset == "paper" and any(s.experiment.startswith("llm-") for s in chosen) and None in (teacher, student, qa_file):
        raise ValueError("--preset paper runs the llm-* experiments on GPT-2 checkpoints: pass --teacher, "
                         "--student and --qa-file, or leave them out with --only.")
    steps = []
    for step in chosen:
        module = EXPERIMENTS[step.experiment]
        extra = {"teacher": teacher, "student": student, "qa_file": qa_file} if step.experiment.startswith("llm-") else {}
        steps.append((step, module.Config.from_preset(preset, model=step.model, seed=seed, **extra)))
    theory = THEORY_STUDENTS[preset] if wanted is None or "theory" in wanted else None
    return Plan(preset, seed, theory, tuple(steps))


def run_experiment(name: str, cfg, out: Path, *, resume: bool = False, overwrite: bool = False,
                   shared: Path | None = None):
    """Run one experiment into the run folder ``out`` and write its results and report.

    Returns ``(results, report markdown, wall seconds)``. A run that fails on bad input
    before finishing any grid point leaves no folder behind.
    """
    from jaxkd.experiments import EXPERIMENTS
    from jaxkd.report import write_step

    out = Path(out)
    fresh = not out.exists()
    run_dir = RunDir.open(out, {"experiment": name, **dataclasses.asdict(cfg)}, resume=resume, overwrite=overwrite,
                          shared=shared)
    start = time.perf_counter()
    module = EXPERIMENTS[name]
    if resume and (out / "results.json").is_file():  # finished earlier: only redo the report
        data = read_json(out / "results.json")
    else:
        try:
            data = to_jsonable(module.run(cfg, run_dir))
        except ValueError:
            if fresh and not run_dir.has_any_point():
                shutil.rmtree(out, ignore_errors=True)
            raise
    wall = time.perf_counter() - start
    # Reported and judged from what results.json holds (NaN -> None), the same either way.
    results = module.Results.from_json(cfg, data)
    report = write_step(module, results, run_dir)
    run_dir.write_json("results.json", results)
    run_dir.write_text("report.md", report)
    return results, report, wall


def run_theory(out: Path, students: int, seed: int, *, resume: bool = False, overwrite: bool = False) -> list[dict]:
    """``theory verify`` as a resumable run folder: one point per docs/theorems.md result."""
    from jaxkd.experiments.common import sweep
    from jaxkd.theory.verify import VERIFIERS, verify

    run_dir = RunDir.open(out, {"command": "theory verify", "students": students, "seed": seed},
                          resume=resume, overwrite=overwrite)
    rows = sweep(run_dir, [(f"result-{name}", name) for name in VERIFIERS],
                 lambda name: {"checks": [c.to_json() for c in verify(students, seed, [name])]}, desc="theory verify")
    checks = [c for row in rows for c in row["checks"]]
    run_dir.write_json("checks.json", checks)
    return checks


def reproduce(the_plan: Plan, out, *, resume: bool = False, overwrite: bool = False,
              log: Callable[[str], None] | None = None) -> tuple[dict, str]:
    """Run ``the_plan`` into ``out`` and write report.md, report.html and summary.json.

    Returns ``(summary, tables)``: the summary written to summary.json (theorem and claim
    verdicts, timings) and its markdown tables. ``log`` receives one line per
    step (default: stderr, through tqdm so progress bars stay intact).
    """
    from jaxkd import report, study

    log = log or (lambda line: tqdm.write(line, file=sys.stderr))
    out = Path(out)
    top = RunDir.open(out, the_plan.config(), resume=resume, overwrite=overwrite)
    started = time.perf_counter()
    checks: list[dict] = []
    results: dict[str, dict] = {}
    reports: dict[str, str] = {}
    total = len(the_plan.steps) + (the_plan.theory_students is not None)
    done = 0
    with tqdm(total=total, desc="reproduce", unit="step", disable=None) as bar:
        def timed(name: str, fn):
            nonlocal done
            bar.set_postfix_str(name)
            log(f"[{done + 1}/{total}] {name} ...")
            t0 = time.perf_counter()
            value = fn()
            wall = time.perf_counter() - t0
            if not top.has_point(f"wall-{name}"):
                top.save_point(f"wall-{name}", {"seconds": wall})
            log(f"[{done + 1}/{total}] {name} done in {wall:.1f} s")
            done += 1
            bar.update()
            return value

        if the_plan.theory_students is not None:
            checks = timed("theory", lambda: run_theory(out / "theory", the_plan.theory_students, the_plan.seed,
                                                        resume=resume, overwrite=overwrite))
        for step, cfg in the_plan.steps:
            res, md, _ = timed(step.name, lambda: run_experiment(step.experiment, cfg, out / step.name,
                                                                 resume=resume, overwrite=overwrite,
                                                                 shared=top.shared))
            results[step.name], reports[step.name] = res, md
    findings = study.judge(results)
    timings = {p.stem.removeprefix("wall-"): top.load_point(p.stem)["seconds"]
               for p in sorted((out / "points").glob("wall-*.json"))}
    summary = {
        "preset": the_plan.preset, "seed": the_plan.seed,
        "theorems": [{"result": r, "passed": k, "checks": n} for r, k, n in study.theorem_summary(checks)],
        "findings": [{"claim": c.key, "statement": f.claim, "status": f.status, "evidence": f.evidence,
                      "criterion": c.criterion, "interval": None if f.interval is None else list(f.interval),
                      "replicates": f.replicates}
                     for c, f in findings],
        "seconds": timings, "wall_seconds_this_run": time.perf_counter() - started,
    }
    md = report.study_report(the_plan, checks, reports, findings, timings)
    top.write_json("summary.json", summary)
    top.write_text("report.md", md)
    top.write_text("report.html", report.markdown_to_html(md, out, title=f"jaxkd reproduce ({the_plan.preset})"))
    return summary, report.study_summary_tables(checks, findings)
