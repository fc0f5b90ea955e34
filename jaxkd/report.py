"""The study report: one structured document (:mod:`jaxkd.document`) built from the run's
results, rendered to ``report.md`` and a self-contained ``report.html``.

Order: title and provenance, a linked table of contents, the summary (theorem checks and claim
verdicts), one key figure per study section, then each study section with its experiments'
own documents (every experiment has ``figures(results)`` and ``document(results)``: :mod:`jaxkd.experiments.experiment`)
and what each step tests, the theorem checks in full, and the run details in run order.

The theorem checks arrive as :class:`jaxkd.theory.checks.Check` records and are counted per
result by :func:`jaxkd.theory.checks.tally`; docs/results.md reads summary.json's ``theorems``
back as :class:`~jaxkd.theory.checks.Tally` records.
"""

from __future__ import annotations

from typing import Sequence

from jaxkd import document as doc
from jaxkd import study
from jaxkd.formatting import fmt
from jaxkd.runs import RunDir
from jaxkd.theory.checks import Check, Tally, tally


def write_step(experiment, results, run_dir: RunDir) -> doc.Section:
    """Save an experiment's figures into its run folder, write its report.md and report.html,
    and return its document."""
    for name, fig in experiment.figures(results).items():
        run_dir.save_figure(fig, name)
    section = experiment.document(results)
    run_dir.write_text("report.md", doc.to_markdown(section))
    run_dir.write_text("report.html", doc.to_html(section, run_dir.path))
    return section


def _theorem_rows(tallies: Sequence[Tally]) -> list[list[str]]:
    """One row per result: its id, its statement, checks passed and the verdict."""
    return [[t.result, study.THEOREMS.get(t.result, ""), f"{t.passed}/{t.checks}", "pass" if t.all_passed else "FAIL"]
            for t in tallies]


def summary_section(checks: Sequence[Check], findings, links: dict[str, str] | None = None) -> doc.Section:
    """The summary: one row per docs/theorems.md result (pass/fail) and one per empirical claim
    (its verdict and the numbers that decided it). ``links``: step name -> anchor of its
    section, to link each claim to the experiment that decided it."""
    links = links or {}
    blocks = []
    thm = _theorem_rows(tally(checks))
    if thm:
        blocks.append(doc.Section("Theorems (closed forms, jaxkd theory verify)", [
            doc.Table(["result", "statement", "checks passed", "verdict"], thm)], anchor="summary-theorems"))
    rows = []
    for claim, finding in findings:
        step = claim.needs[0]
        text = doc.Link(claim.claim, f"#{links[step]}") if step in links else claim.claim
        rows.append([text, finding.status, finding.evidence])
    blocks.append(doc.Section("Empirical findings (docs/theorems.md, \"Empirical claims\")", [
        doc.Table(["claim", "verdict", "measured"], rows)], anchor="summary-findings"))
    by_fit = [[claim.key, v.fit, v.status, "n/a" if v.interval is None else
               f"[{fmt(v.interval[0], 3)}, {fmt(v.interval[1], 3)}]"]
              for claim, finding in findings for v in finding.fits]
    if by_fit:
        blocks.append(doc.Section("Every verdict at every training budget", [
            doc.Paragraph("Each claim whose students train to a budget is judged at the fit its premise needs "
                          "(deciding) and again at the other fits this run trained: twice the budget, a fixed "
                          "budget beside a stopping rule, and for the language-model claims every rung of the fit "
                          "ladder (checkpoints of one run). Fits that disagree between reproduced and not "
                          "reproduced make the verdict \"inconclusive (budget)\"."),
            doc.Table(["claim", "fit", "verdict", "95% interval"], by_fit),
            *([doc.Figure(LADDER_FIGURE, "each fit-ladder claim's deciding quantity (95% interval; the claim holds "
                                         "above 0) against how far its students had trained")]
              if ladder_claims(findings) else [])], anchor="summary-fits"))
    return doc.Section("Summary", blocks, anchor="summary")


#: The summary's figure of the fit ladder, in the run folder.
LADDER_FIGURE = "ladder.png"

STATUS_COLOURS = {"reproduced": "C2", "not reproduced": "C3"}


def ladder_claims(findings) -> list:
    """The (claim, finding) pairs judged along a fit ladder (their fits carry a fit level)."""
    return [(c, f) for c, f in findings if len(f.fits) > 1 and all(v.level is not None for v in f.fits)]


def ladder_figure(findings):
    """Each fit-ladder claim's deciding quantity against the share of the run its students had
    trained: the 95% interval at every fit, coloured by its verdict there (green reproduced, red
    not reproduced, grey inconclusive), the deciding fit ringed; None without ladder claims."""
    from jaxkd.plotting import subplots

    chosen = ladder_claims(findings)
    if not chosen:
        return None
    cols = min(4, len(chosen))
    rows = -(-len(chosen) // cols)
    fig, axes = subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel()[len(chosen):]:
        ax.set_visible(False)
    for ax, (claim, finding) in zip(axes.ravel(), chosen):
        for i, v in enumerate(finding.fits):
            if v.interval is None:
                continue
            lo, hi = v.interval
            colour = STATUS_COLOURS.get(v.status, "0.5")
            ax.plot([v.level, v.level], [lo, hi], color=colour, lw=3, solid_capstyle="butt")
            ax.plot([v.level], [(lo + hi) / 2], "o", color=colour, ms=4,
                    mfc="white" if i == 0 else colour, mew=1.5)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xlim(0, 1.08)
        ax.set_title(f"{claim.key}: {finding.status}", fontsize=8)
        ax.set_xlabel("share of the run trained", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def provenance_blocks(prov: dict, plan, timings: dict[str, float]) -> tuple[list, list]:
    """(header, details) from ``prov`` (:func:`jaxkd.provenance.record` plus ``started`` and
    ``wall_seconds``): one line under the title -- code, packages, devices, time -- and the
    full table for the run details."""
    pk, dev = prov.get("packages", {}), prov.get("devices", {})
    commit = prov.get("commit")
    code = (f"{prov['version']}, commit {commit}{' with local modifications' if prov.get('modified') else ''}"
            if commit else f"{prov['version']} (not a git checkout)")
    total = sum(timings.values())
    wall = prov.get("wall_seconds", 0.0)
    core = ", ".join(f"{n} {pk[n]}" for n in ("jax", "jaxlib", "flax", "optax", "numpy") if n in pk)
    header = [doc.Paragraph(
        f"Preset {plan.preset}, seed {plan.seed}; jaxkd {prov['version']}; {core}; {dev.get('count')} x "
        f"{dev.get('kind')} ({dev.get('cpu_cores')} CPU cores); started {prov.get('started', '?')}, "
        f"{wall / 60:.1f} min wall. Full provenance under ", doc.Link("Run details", "#run-details"), ".")]
    rows = [["preset, seed", f"{plan.preset}, {plan.seed}"],
            ["jaxkd", code],
            ["source sha256", prov["source_sha256"]],
            ["packages", ", ".join(f"{n} {v}" for n, v in pk.items())],
            ["Python, platform", f"{prov.get('python')}, {prov.get('platform')}"],
            ["devices", f"{dev.get('count')} x {dev.get('kind')} ({dev.get('platform')}), "
                        f"{dev.get('processes')} process(es), {dev.get('cpu_cores')} CPU cores"],
            ["CPU, XLA flags", _cpu(prov.get("cpu"))],
            ["started", prov.get("started", "")],
            ["wall time", f"{wall / 60:.1f} min this invocation; {total / 60:.1f} min of step time over "
                          f"{len(timings)} steps (a resumed step counts its last part)"]]
    return header, [doc.Table(["provenance", ""], rows)]


def _cpu(c: dict | None) -> str:
    """The CPU line of the provenance table (runs recorded before it was kept say so)."""
    if not c:
        return "not recorded"
    return (f"{c['model']} ({', '.join(c['vector_extensions']) or 'no AVX2'}); XLA_FLAGS "
            f"{c['xla_flags'] or '(none)'}")


def _step_tests(step, tallies: dict[str, Tally], claims: list) -> list:
    """The blocks saying which theorems and claims a step tests (``tallies``: result id -> its
    tally), and how they came out."""
    items = []
    for r in step.theorems:
        verdict = (doc.Code("theory verify"), " was not part of this run")
        if r in tallies:
            verdict = (f"{tallies[r].passed}/{tallies[r].checks} checks pass in ", doc.Code("theory verify"))
        items.append((f"docs/theorems.md {r} ({study.THEOREMS[r]}): ", *verdict, "; the closed-form columns "
                      "and lines above are the same formulas."))
    for claim, finding in claims:
        items.append((doc.Strong(finding.status), f": {claim.claim}. Criterion: {claim.criterion}. "
                      f"Measured: {finding.evidence}."))
    if not items:
        return []
    return [doc.Paragraph(doc.Strong("What this tests")), doc.BulletList(items)]


def study_document(plan, checks: Sequence[Check], sections: dict[str, doc.Section], findings,
                   timings: dict[str, float], header: list | None = None,
                   details: list | None = None) -> doc.Section:
    """The document of ``jaxkd reproduce``.

    Args:
      plan: the :class:`jaxkd.reproduce.Plan` that ran (its order is the run order).
      checks: theory verify's checks, empty when theory was not run.
      sections: step name -> that experiment's document (figure paths relative to its folder).
      findings: ``study.judge``'s (claim, finding) pairs.
      timings: step name (and "theory") -> wall seconds.
      header: blocks under the title (provenance); default: preset, seed and compute time.
      details: blocks that open the run details (the full provenance).
    """
    claims_by_step: dict[str, list] = {}
    for claim, finding in findings:
        claims_by_step.setdefault(claim.needs[0], []).append((claim, finding))
    tallies = {t.result: t for t in tally(checks)}
    total = sum(timings.values())
    if header is None:
        header = [doc.Paragraph(f"Seed {plan.seed}; compute time {total / 60:.1f} min over {len(timings)} steps.")]
    intro = doc.Paragraph("Every number below was measured in this run; verdicts are computed from them by ",
                          doc.Code("jaxkd.study"), ", whose criteria are listed next to each claim.")
    links = {name: name for name in sections}

    key_figures, body = [], []
    for section in study.SECTIONS:
        steps = [s for s in section.steps if s.name in sections]
        if not steps:
            continue
        parts = [doc.Paragraph(section.intro)]
        for step in steps:
            inner = doc.relocate(sections[step.name], step.name, anchor=step.name)
            parts.append(doc.Section(inner.title, [*inner.blocks, *_step_tests(step, tallies,
                                                                                claims_by_step.get(step.name, []))],
                                     anchor=step.name))
        body.append(doc.Section(section.title, parts, anchor=section.key))
        # Key figure: the first figure of the section's first step with a claim (else its first step).
        judged = [s for s in steps if claims_by_step.get(s.name)] or steps
        for step in judged:
            fig = next(doc.relocate(sections[step.name], step.name).figures(), None)
            if fig is not None:
                key_figures.append(doc.Figure(fig.path, f"{section.title}: {sections[step.name].title}, "
                                                        f"{fig.caption}", link=f"#{step.name}"))
                break

    out = [*header, intro, doc.Contents(depth=2), summary_section(checks, findings, links)]
    if key_figures:
        out.append(doc.Section("Key figures", key_figures, anchor="key-figures"))
    out += body
    if checks:
        out.append(doc.Section("Theory checks (docs/theorems.md)", [
            doc.Paragraph(f"Every result simulated through jaxkd's own code (each check a stated multiple of "
                          f"{plan.theory_students} base students) and compared with its closed form; the tolerance "
                          "is Z standard errors of the simulated value (Z from a 1% family-wise error over the whole "
                          "run) plus any term a result states only 'about', a rounding bound for exact results "
                          "(docs/theorems.md, 'How the results are verified')."),
            doc.Table(["result", "statement", "closed form", "simulated", "tolerance", ""],
                      [[c.result, c.case, c.predicted, c.observed, c.tolerance, "pass" if c.passed else "FAIL"]
                       for c in checks])], anchor="theory"))
    order = ["theory", *(s.name for s, _ in plan.steps), *(f"{s.name}@{label}" for s, label, _ in plan.refits)]
    rows = [[name, f"{timings[name]:.1f}", doc.Link(f"{name}/", f"{name}/")] for name in order if name in timings]
    out.append(doc.Section("Run details", [
        *(details or []),
        doc.Paragraph("Steps in run order: wall time of the invocation that finished each step (a resumed step "
                      "counts only its last part), and the run folder holding its config.json, results.json, "
                      "per-point files and figures."),
        doc.Table(["step", "seconds", "folder"], rows)], anchor="run-details"))
    return doc.Section(f"jaxkd: the study, reproduced (preset {plan.preset})", out, anchor="top")


def results_document(summary: dict, source: str) -> doc.Section:
    """docs/results.md: the verdicts of a reference run, from its ``summary.json`` alone
    (``source``: where that file is kept, for the header)."""
    prov = summary.get("provenance", {})
    pk, dev = prov.get("packages", {}), prov.get("devices", {})
    commit = prov.get("commit")
    wall = prov.get("wall_seconds", summary.get("wall_seconds_this_run"))
    about = [["preset, seed", f"{summary['preset']}, {summary['seed']}"],
             ["jaxkd", f"{prov.get('version', '?')}" + (f", commit {commit}" if commit else "")
              + (" with local modifications" if prov.get("modified") else "")],
             ["packages", ", ".join(f"{n} {pk[n]}" for n in ("jax", "jaxlib", "flax", "optax", "numpy") if n in pk)],
             ["devices", f"{dev.get('count', '?')} x {dev.get('kind', '?')}, {dev.get('cpu_cores', '?')} CPU cores"],
             ["started", prov.get("started", "?")],
             ["wall time", "?" if wall is None else f"{wall / 60:.1f} min (this invocation)"]]
    tallies = [Tally.from_json(t) for t in summary["theorems"]]
    findings, details = [], []
    for f in summary["findings"]:
        interval = "—" if f["interval"] is None else f"[{f['interval'][0]:.4g}, {f['interval'][1]:.4g}]"
        findings.append([f["statement"], f["status"], interval, f["replicates"]])
        details.append((doc.Strong(f["statement"]), f" ({f['status']}). Criterion: {f['criterion']}. "
                        f"Measured: {f['evidence']}."))
    by_fit = [[f["claim"], v["fit"], v["status"], "—" if v["interval"] is None else
               f"[{v['interval'][0]:.4g}, {v['interval'][1]:.4g}]"] for f in summary["findings"] for v in f.get("fits", [])]
    order = ["theory", *(s.name for s in study.STEPS)]
    seconds = summary.get("seconds", {})
    steps = [[name, f"{seconds[name]:.1f}"] for name in order if name in seconds]
    steps += [[name, f"{sec:.1f}"] for name, sec in seconds.items() if name not in order]
    passed = sum(t.passed for t in tallies)
    checks = sum(t.checks for t in tallies)
    counts = {}
    for f in summary["findings"]:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    return doc.Section("Results of the reference run", [
        doc.Paragraph("Generated from ", doc.Code(source), ", the ", doc.Code("summary.json"), " of a ",
                      doc.Code(f"jaxkd reproduce --preset {summary['preset']}"), " run, by ",
                      doc.Code("python scripts/results.py RUN_DIR"), " (", doc.Code("make results"),
                      "); do not edit it by hand. A test checks that this page matches that file. The full "
                      "report of such a run, every table and figure, is the run folder's report.html."),
        doc.Section("The run", [doc.Table(["", ""], about)]),
        doc.Section("Theorems", [
            doc.Paragraph(f"{passed} of {checks} checks pass ({sum(t.all_passed for t in tallies)} "
                          f"of {len(tallies)} results); each result's statement is in docs/theorems.md."),
            doc.Table(["result", "statement", "checks passed", "verdict"], _theorem_rows(tallies))]),
        doc.Section("Empirical claims", [
            doc.Paragraph(f"{len(summary['findings'])} claims: {tally}. The interval is the 95% interval of the "
                          "quantity that decided each verdict, signed so that an interval above 0 supports the "
                          "claim (the evidence below states it in the claim's own terms); replicates are the "
                          "independent runs behind it."),
            doc.Table(["claim", "verdict", "95% interval", "replicates"], findings),
            doc.Paragraph(doc.Strong("What decided each verdict")), doc.BulletList(details)]),
        *([doc.Section("Every verdict at every training budget", [
            doc.Paragraph("Each claim whose students train to a budget, judged at its deciding fit and at the "
                          "others the run trained; fits that disagree between reproduced and not reproduced make "
                          "the verdict \"inconclusive (budget)\"."),
            doc.Table(["claim", "fit", "verdict", "95% interval"], by_fit)])] if by_fit else []),
        doc.Section("Time per step", [doc.Table(["step", "seconds"], steps)]),
    ])
