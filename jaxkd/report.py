"""The study report: assembles each experiment's own markdown and figures (every experiment
module has ``figures(results)`` and ``markdown(results)``) into ``report.md``
and a self-contained ``report.html``, with the theorem checks and claim verdicts beside the
step they test."""

from __future__ import annotations

from jaxkd.formatting import markdown_table
from jaxkd.runs import RunDir


def write_step(module, results, run_dir: RunDir) -> str:
    """Save an experiment's figures into its run folder and return its markdown."""
    for name, fig in module.figures(results).items():
        run_dir.save_figure(fig, name)
    return module.markdown(results)


def _embed_step_report(md: str, folder: str) -> str:
    """An experiment's report inside the study report: headings two levels down, figure paths
    relative to the study folder."""
    import re

    md = re.sub(r"^(#+) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", md, flags=re.M)
    return re.sub(r"!\[([^\]]*)\]\(([^)/]+\.png)\)", rf"![\1]({folder}/\2)", md)


def study_summary_tables(checks: list[dict], findings) -> str:
    """The summary: one row per docs/theorems.md result (pass/fail) and one per empirical claim
    (reproduced / not reproduced, with the numbers that decided it)."""
    from jaxkd import study

    thm = [[r, study.THEOREMS.get(r, ""), f"{k}/{n}", "pass" if k == n else "FAIL"]
           for r, k, n in study.theorem_summary(checks)]
    parts = []
    if thm:
        parts.append("### Theorems (closed forms, `jaxkd theory verify`)\n\n"
                     + markdown_table(["result", "statement", "checks passed", "verdict"], thm))
    rows = [[c.claim, f.status, f.evidence] for c, f in findings]
    parts.append("### Empirical findings (docs/theorems.md, \"Empirical claims\")\n\n"
                 + markdown_table(["claim", "verdict", "measured"], rows))
    return "\n\n".join(parts)


def study_report(plan, checks: list[dict], reports: dict[str, str], findings, timings: dict[str, float]) -> str:
    """report.md of ``jaxkd reproduce``: summary, then one section per study section with each
    experiment's tables and figures followed by the theorems and claims it tests."""
    import jaxkd
    from jaxkd import study

    claims_by_step: dict[str, list] = {}
    for claim, finding in findings:
        claims_by_step.setdefault(claim.needs[0], []).append((claim, finding))
    by_result: dict[str, list[dict]] = {}
    for c in checks:
        by_result.setdefault(c["result"], []).append(c)
    total = sum(timings.values())
    out = [f"# jaxkd: the study, reproduced (preset {plan.preset})\n",
           f"jaxkd {jaxkd.__version__}, seed {plan.seed}; compute time {total / 60:.1f} min "
           f"over {len(timings)} steps (per step at the end). Every number below was measured in "
           "this run; verdicts are computed from them by `jaxkd.study`, whose criteria are listed "
           "next to each claim.\n",
           "## Summary\n", study_summary_tables(checks, findings) + "\n"]
    if checks:
        out += ["## Theory (docs/theorems.md)\n",
                f"Every result simulated through jaxkd's own code ({plan.theory_students} students per "
                "check) and compared with its closed form; the tolerance is 5 standard deviations of "
                "the Monte Carlo estimate unless the result is exact.\n",
                markdown_table(["result", "statement", "closed form", "simulated", "tolerance", ""],
                               [[c["result"], c["case"], c["predicted"], c["observed"], c["tolerance"],
                                 "pass" if c["passed"] else "FAIL"] for c in checks]) + "\n"]
    for section in study.SECTIONS:
        steps = [s for s in section.steps if s.name in reports]
        if not steps:
            continue
        out += [f"## {section.title}\n", section.intro + "\n"]
        for step in steps:
            out.append(_embed_step_report(reports[step.name], step.name))
            tests = []
            for r in step.theorems:
                verdict = "`theory verify` was not part of this run"
                if r in by_result:
                    ok = sum(c["passed"] for c in by_result[r])
                    verdict = f"{ok}/{len(by_result[r])} checks pass in `theory verify`"
                tests.append(f"- docs/theorems.md {r} ({study.THEOREMS[r]}): {verdict}; the closed-form columns "
                             "and lines above are the same formulas.")
            for claim, finding in claims_by_step.get(step.name, []):
                tests.append(f"- **{finding.status}**: {claim.claim}. Criterion: {claim.criterion}. "
                             f"Measured: {finding.evidence}.")
            if tests:
                out.append("**What this tests**\n\n" + "\n".join(tests) + "\n")
    rows = [[name, f"{sec:.1f}", f"`{name}/`"] for name, sec in timings.items()]
    out += ["## Run details\n", "Wall time of the invocation that finished each step (a resumed "
            "step counts only its last part), and the run folder holding its config.json, "
            "results.json, per-point files and figures.\n", markdown_table(["step", "seconds", "folder"], rows) + "\n"]
    return "\n".join(out)


_HTML_STYLE = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}
img{max-width:100%;height:auto}code{background:#f5f5f5;padding:0 .2em}"""


def markdown_to_html(md: str, base_dir, title: str = "jaxkd report") -> str:
    """Render report markdown to one self-contained HTML page: images are embedded as data URIs
    (read from paths relative to ``base_dir``)."""
    import base64
    import html
    import re
    from pathlib import Path

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)

    def embed(match):
        path = Path(base_dir) / html.unescape(match.group(1))
        if not path.is_file():
            raise ValueError(f"the report refers to {path}, which does not exist.")
        data = base64.b64encode(path.read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    body = re.sub(r'src="([^"]+\.png)"', embed, body)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_HTML_STYLE}</style></head>\n<body>\n{body}</body></html>\n")
