"""``jaxkd reproduce``: verify the theory, run every experiment of the study, write one report.

Layout of the output folder::

    config.json           preset, seed, the steps planned
    theory/               theory verify as a run folder (one point per docs/theorems.md result),
                          its checks in checks.json (jaxkd.theory.checks.Check.to_json each)
    <experiment>-<model>/ one run folder per experiment (config, points, results, figures, report)
    <step>@<fit>/         the same experiment at another training budget (``2x``: twice the
                          students' budget; ``fixed``: a fixed budget beside a stopping rule),
                          whose results every claim of that step is re-judged on
    points/               wall time of each finished step
    summary.json          theorem verdicts (jaxkd.theory.checks.Tally.to_json each), claim verdicts
                          with their evidence, timings
    report.md             every section's tables and figures next to what they test
    report.html           the same, figures embedded (one self-contained file)

Every part is resumable: a killed reproduce continues with ``--resume`` from the last grid
point any experiment finished, and the report is written only once everything is complete.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import jax

from jaxkd import _validation as v
from jaxkd import document, progress, provenance, report, study
from jaxkd._extras import MissingExtra
from jaxkd.experiments.results import frozen
from jaxkd.report import write_step
from jaxkd.runs import RunDir, read_json, sweep, to_jsonable
from jaxkd.study import EXPERIMENTS, STEPS, Step
from jaxkd.theory import verify as tv
from jaxkd.theory.checks import Check, Tally, tally

# Base students of theory verify: each check simulates a stated multiple of it, and 1,000
# already resolves a 5% error in every closed form (docs/theorems.md), at both presets.
THEORY_STUDENTS = {"quick": 1000, "paper": 1000}


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a reproduce run will do: validated configs for every step, built up front so bad
    input fails before anything is computed."""

    preset: str
    seed: int
    theory_students: int | None            # None: theory verify is not part of this run
    steps: tuple[tuple[Step, object], ...]  # (step, experiment Config)
    refits: tuple[tuple[Step, str, object], ...] = ()  # (step, fit label, Config at that training budget)

    def config(self) -> dict:
        return {"command": "reproduce", "preset": self.preset, "seed": self.seed,
                "theory_students": self.theory_students, "steps": [s.name for s, _ in self.steps],
                "refits": [refit_name(s, label) for s, label, _ in self.refits]}


def refit_name(step: Step, label: str) -> str:
    """The folder (and timing) name of ``step`` at another fit: ``teacher-noise-mlp@2x``."""
    return f"{step.name}@{label}"


def plan(preset: str = "quick", *, seed: int = 0, only=None, teacher=None, student=None,
         qa_file=None, refits: bool = True) -> Plan:
    """Build the :class:`Plan`.

    Args:
      preset: "quick" (minutes on a laptop CPU) or "paper" (the study's protocol).
      seed: root seed of every experiment.
      only: optional names to run: "theory", experiment names ("bootstrap" runs both models)
        or step names ("bootstrap-mlp").
      teacher, student, qa_file: the llm-* experiments' paper-preset inputs (Hugging Face
        checkpoint folders, QA JSON).
      refits: also run every step whose students train to a budget at its other fits
        (``Config.refits``: twice the budget, and a fixed budget beside a stopping rule) where a
        claim reads the step, so that each claim is re-judged there; False judges at the deciding fit only (faster; a
        verdict the budget would overturn goes unnoticed).

    Raises:
      ValueError: unknown preset or name, bad seed, or a config an experiment rejects (for
        example ``--preset paper`` without the GPT-2 checkpoints while llm-* steps are planned).
    """
    v.check_choice("preset", preset, list(THEORY_STUDENTS))
    v.check_int("seed", seed, minimum=0)
    names = {"theory"} | {s.name for s in STEPS} | {s.experiment for s in STEPS}
    wanted = None if only is None else set(only)
    for name in wanted or ():
        if name not in names:
            raise ValueError(f"--only {name!r} is not part of the study; choose from theory, "
                             f"{', '.join(sorted({s.experiment for s in STEPS}))} or names like teacher-noise-mlp.")
    chosen = [s for s in STEPS if (wanted is None and not s.optional) or (wanted is not None and (
        s.name in wanted or s.experiment in wanted))]
    if preset == "paper" and any(s.experiment.startswith("llm-") for s in chosen) and None in (teacher, student, qa_file):
        raise ValueError("--preset paper runs the llm-* experiments on GPT-2 checkpoints: pass --teacher, "
                         "--student and --qa-file, or leave them out with --only.")
    steps = []
    for step in chosen:
        try:
            EXPERIMENTS[step.experiment].require()
        except MissingExtra as exc:
            tabular = ",".join(["theory", *(s.name for s in chosen if not s.experiment.startswith("llm-"))])
            raise ValueError(f"{str(exc).rstrip('.')}; or leave the llm-* steps out: --only {tabular}.") from None
        extra = {"teacher": teacher, "student": student, "qa_file": qa_file} if step.experiment.startswith("llm-") else {}
        steps.append((step, EXPERIMENTS[step.experiment].Config.from_preset(preset, model=step.model, seed=seed, **extra)))
    theory = THEORY_STUDENTS[preset] if wanted is None or "theory" in wanted else None
    # Refits of the steps some claim reads (a step no claim reads has no verdict to re-judge).
    claimed = {n for c in study.CLAIMS for n in c.needs} if refits else set()
    others = tuple((step, label, other) for step, cfg in steps if step.name in claimed
                   for label, other in cfg.refits().items())
    return Plan(preset, seed, theory, tuple(steps), others)


def run_experiment(name: str, cfg, out: Path, *, resume: bool = False, overwrite: bool = False,
                   shared: Path | None = None):
    """Run one experiment into the run folder ``out`` and write its results and report.

    Returns ``(results, report document, wall seconds)``. A run that fails on bad input
    before finishing any grid point leaves no folder behind.
    """
    out = Path(out)
    fresh = not out.exists()
    run_dir = RunDir.open(out, {"experiment": name, **dataclasses.asdict(cfg)}, resume=resume, overwrite=overwrite,
                          shared=shared)
    start = time.perf_counter()
    experiment = EXPERIMENTS[name]
    if resume and (out / "results.json").is_file():  # finished earlier: only redo the report
        data = read_json(out / "results.json")
    else:
        try:
            data = to_jsonable(experiment.run(cfg, run_dir))
        except ValueError:
            if fresh and not run_dir.has_any_point():
                shutil.rmtree(out, ignore_errors=True)
            raise
    wall = time.perf_counter() - start
    # Reported and judged from what results.json holds (NaN -> None), the same either way.
    results = experiment.Results.from_json(cfg, data)
    section = write_step(experiment, results, run_dir)
    run_dir.write_json("results.json", results)
    return results, section, wall


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What :func:`reproduce` hands back: summary.json's contents, the theorem tallies behind its
    ``theorems`` (the command's exit code is decided from them), and the summary as markdown."""

    summary: dict
    theorems: tuple[Tally, ...]
    tables: str


def run_theory(out: Path, students: int, seed: int, *, resume: bool = False,
               overwrite: bool = False) -> tuple[Check, ...]:
    """``theory verify`` as a resumable run folder: one point per docs/theorems.md result, all
    on one verification context (results that share simulated students simulate them once).
    A resumed run reads its finished results' checks back from their points."""
    students = v.check_int("number of students", students, minimum=100)
    run_dir = RunDir.open(out, {"command": "theory verify", "students": students, "seed": seed},
                          resume=resume, overwrite=overwrite)
    with jax.enable_x64(True):
        ctx = tv.context(students, seed)
        rows = sweep(run_dir, [(f"result-{name}", name) for name in tv.VERIFIERS],
                     lambda name: {"checks": [c.to_json() for c in tv.run_checks(ctx, [name])]},
                     desc="theory verify")
    checks = tuple(Check.from_json(c) for row in rows for c in row["checks"])
    run_dir.write_json("checks.json", [c.to_json() for c in checks])
    return checks


def reproduce(the_plan: Plan, out, *, resume: bool = False, overwrite: bool = False) -> Outcome:
    """Run ``the_plan`` into ``out`` and write report.md, report.html and summary.json.

    Returns the :class:`Outcome`: the summary written to summary.json (theorem and claim
    verdicts, provenance, timings), the theorem tallies and the summary's tables as markdown.
    Progress goes to stderr through :mod:`jaxkd.progress` (a bar on a terminal, timestamped
    lines elsewhere).
    """
    out = Path(out)
    top = RunDir.open(out, the_plan.config(), resume=resume, overwrite=overwrite)
    started, started_at = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    checks: tuple[Check, ...] = ()
    results: dict[str, dict] = {}
    sections: dict[str, document.Section] = {}
    refit_results: dict[str, dict] = {}
    total = len(the_plan.steps) + len(the_plan.refits) + (the_plan.theory_students is not None)
    with progress.task("reproduce", total=total, unit="step") as bar:
        def timed(name: str, fn):
            bar.note(name)
            t0 = time.perf_counter()
            value = fn()
            wall = time.perf_counter() - t0
            if not top.has_point(f"wall-{name}"):
                top.save_point(f"wall-{name}", {"seconds": wall})
            progress.log(f"reproduce: {name} done in {wall:.1f} s")
            bar.advance()
            return value

        if the_plan.theory_students is not None:
            checks = timed("theory", lambda: run_theory(out / "theory", the_plan.theory_students, the_plan.seed,
                                                        resume=resume, overwrite=overwrite))
        for step, cfg in the_plan.steps:
            res, section, _ = timed(step.name, lambda: run_experiment(step.experiment, cfg, out / step.name,
                                                                      resume=resume, overwrite=overwrite,
                                                                      shared=top.shared))
            results[step.name], sections[step.name] = res, section
        for step, label, cfg in the_plan.refits:  # the same steps at their other training budgets
            name = refit_name(step, label)
            res, _, _ = timed(name, lambda: run_experiment(step.experiment, cfg, out / name, resume=resume,
                                                           overwrite=overwrite, shared=top.shared))
            refit_results.setdefault(step.name, {})[label] = res
    findings = study.judge(results, refit_results)
    timings = {p.stem.removeprefix("wall-"): top.load_point(p.stem)["seconds"]
               for p in sorted((out / "points").glob("wall-*.json"))}
    wall = time.perf_counter() - started
    prov = {**provenance.record(), "started": started_at, "wall_seconds": wall}
    theorems = tally(checks)
    summary = {
        "preset": the_plan.preset, "seed": the_plan.seed,
        "theorems": [t.to_json() for t in theorems],
        "findings": [{"claim": c.key, "statement": f.claim, "status": f.status, "evidence": f.evidence,
                      "criterion": c.criterion, "interval": None if f.interval is None else list(f.interval),
                      "replicates": f.replicates, "fits": [v.to_json() for v in f.fits]}
                     for c, f in findings],
        "seconds": timings, "wall_seconds_this_run": wall,
        "provenance": prov,
    }
    header, details = report.provenance_blocks(prov, the_plan, timings)
    study_doc = report.study_document(the_plan, checks, sections, findings, timings, header=header, details=details)
    figure = report.ladder_figure(findings)
    if figure is not None:
        top.save_figure(figure, report.LADDER_FIGURE)
    top.write_json("summary.json", summary)
    top.write_text("report.md", document.to_markdown(study_doc))
    top.write_text("report.html", document.to_html(study_doc, out, title=f"jaxkd reproduce ({the_plan.preset})"))
    return Outcome(summary, theorems,
                   document.to_markdown(report.summary_section(checks, findings), level=2, ids=False))


def _stored(folder: Path, experiment):
    """A finished step folder's stored config (as saved), typed Config and typed Results."""
    stored = read_json(folder / "config.json")
    fields = {f.name for f in dataclasses.fields(experiment.Config)}
    cfg = experiment.Config(**{k: frozen(val) for k, val in stored.items() if k in fields})
    return stored, cfg, experiment.Results.from_json(cfg, read_json(folder / "results.json"))


def report_from_folder(out, *, redraw: bool = False):
    """The study document of a finished ``jaxkd reproduce`` folder, rebuilt by this code from
    the numbers the run saved (each step's config.json and results.json, theory/checks.json,
    summary.json's provenance and timings). For re-rendering a report after the report code
    changed (scripts/render_report.py) and for testing the report on a stored run.

    Args:
      out: the run folder.
      redraw: draw every step's figures again into its folder (a stored run kept without PNGs).

    Returns:
      ``(document, summary)``: the :class:`jaxkd.document.Section` and summary.json's contents.
    """
    out = Path(out)
    top, summary = read_json(out / "config.json"), read_json(out / "summary.json")
    by_name = {s.name: s for s in STEPS}
    steps, sections, results = [], {}, {}
    for name in top["steps"]:
        step = by_name[name]
        experiment = EXPERIMENTS[step.experiment]
        stored, cfg, res = _stored(out / name, experiment)
        if redraw:
            run_dir = RunDir(out / name, stored)
            for fname, fig in experiment.figures(res).items():
                run_dir.save_figure(fig, fname)
        steps.append((step, cfg))
        sections[name], results[name] = experiment.document(res), res
    refits, refit_results = [], {}
    for name in top.get("refits", []):
        base, label = name.rsplit("@", 1)
        step = by_name[base]
        _, cfg, res = _stored(out / name, EXPERIMENTS[step.experiment])
        refits.append((step, label, cfg))
        refit_results.setdefault(base, {})[label] = res
    the_plan = Plan(top["preset"], top["seed"], top["theory_students"], tuple(steps), tuple(refits))
    checks = (tuple(Check.from_json(c) for c in read_json(out / "theory" / "checks.json"))
              if top["theory_students"] is not None else ())
    timings = summary["seconds"]
    header = details = None
    if "provenance" in summary:
        header, details = report.provenance_blocks(summary["provenance"], the_plan, timings)
    findings = study.judge(results, refit_results)
    if redraw and (figure := report.ladder_figure(findings)) is not None:
        RunDir(out, top).save_figure(figure, report.LADDER_FIGURE)
    document = report.study_document(the_plan, checks, sections, findings, timings,
                                      header=header,
                                      details=details)
    return document, summary
