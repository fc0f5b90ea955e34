"""LLM teacher output uncertainty (study Section 4.3, Appendix B.2, Table 2): a teacher-temperature
sweep.

Protocol (the study's): at each temperature every student gets its **own** sampled teacher
answer per prompt; student init (the base student) and data order are the same for every
student of a replicate, so the teacher's randomness is the only difference between them. R
independent replicates (their own teacher draws, base student, data order and evaluation
samples) of N students each. Measured per replicate on the evaluation prompts: alignment of
the students' greedy answers with the teacher's greedy answer, between-student variance with
its sampling floor and corrected (S.1), greedy disagreement and log-prob spread (no floor), the
exact distribution measures with their plug-in floors removed (S.2, S.3), Table 2's share of
prompts whose teacher embedding variance is at least the students', and, for the figure, the
teacher's and a student's sampled answers on the first principal component of their embeddings
(App. B.2).

This is the experiment the study's "students are narrower than their teacher" rests on (Section
4.3, Table 2: each student trained on its own sampled answers, where C.1 applies), so that claim
is judged here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxkd import document as doc
from jaxkd import rng
from jaxkd.claims import Claim, Interval
from jaxkd.experiments.llm_study import config as llm_config
from jaxkd.experiments.llm_study import measures, replicates, report, setup, stats
from jaxkd.formatting import fmt
from jaxkd.plotting import subplots
from jaxkd.runs import RunDir, columns, sweep

MODELS = llm_config.LLMConfig.MODELS


@dataclasses.dataclass(frozen=True)
class Config(llm_config.TemperatureConfig):
    """Teacher temperatures (quick: 0.5, 1, 2; paper: the study's six) and the shared fields."""


def pc1_projection(teacher_embs, student_embs):
    """Project both sample sets (n, E) on the first principal component of their union."""
    from sklearn.decomposition import PCA

    both = np.concatenate([teacher_embs, student_embs])
    pc = PCA(n_components=1).fit(both)
    return pc.transform(teacher_embs)[:, 0], pc.transform(student_embs)[:, 0]


@dataclasses.dataclass(frozen=True)
class Results(measures.SweepResults):
    """Typed results (per teacher temperature; measures per replicate)."""

    temperature: tuple[float, ...]
    pc1_teacher: tuple
    pc1_student: tuple
    shown_prompts: tuple[int, ...]


def distil_at_temperature(task: setup.Task, temperature: float) -> replicates.Outputs:
    """R x N students, each distilled on its own teacher answer per prompt drawn at
    ``temperature``, from the base student in one fixed data order; their outputs, cached in the
    shared folder (llm-noise-transfer reuses them)."""
    cfg = task.cfg
    key = replicates.temperature_key(rng.stream(cfg.seed, "teacher_sampling"), temperature)

    def compute():
        draws = replicates.teacher_draws(task, key, 1, temperature)
        pairs = [[(p, d[0]) for p, d in enumerate(student)] for student in draws]
        return replicates.train_and_sample(task, pairs, order=replicates.replicate_keys(task, "data_order"),
                                           key=replicates.temperature_key(rng.stream(cfg.seed, "student_eval"),
                                                                          temperature))

    return setup.cached(task, setup.work_key(cfg, "teacher-noise", temperature=float(temperature)), compute,
                        load=replicates.Outputs.from_json)


def run(cfg: Config, run_dir: RunDir | None = None) -> Results:
    """Run the sweep (``run_dir`` enables save/resume) and return its typed results."""
    return Results.build(cfg, _columns(cfg, run_dir))


def _columns(cfg: Config, run_dir: RunDir | None) -> dict:
    task = setup.build_task(cfg, None if run_dir is None else run_dir.shared)
    # The most ambiguous prompts are the ones worth projecting (App. B.2).
    items = task.eval_corpus.items
    shown = sorted(range(len(items)), key=lambda p: -items[p].entropy)[:2]

    def point(T):
        out = distil_at_temperature(task, T)
        teacher = replicates.teacher_reference(task, T)
        t_embs, s_embs = measures.embed(task, teacher.samples[0]), measures.embed(task, out.samples.at(1.0)[0])
        proj = [pc1_projection(t_embs[q], s_embs[q]) for q in shown]
        return {"temperature": T, **measures.measure(task, out, teacher), "passes": float(cfg.epochs),
                "steps": out.compute["steps"],
                "pc1_teacher": [a.tolist() for a, _ in proj], "pc1_student": [b.tolist() for _, b in proj]}

    rows = sweep(run_dir, [(f"T-{i:02d}", T) for i, T in enumerate(cfg.temperatures)], point,
                        desc="llm-teacher-noise")
    return {**columns(rows), "shown_prompts": shown, **measures.regime(task)}


# --- report: figures and document ----------------------------------------------------------


def fig_llm_temperature(res: Results):
    fig, (a1, a2, a3) = subplots(1, 3, figsize=(13, 3.8))
    T = res.temperature
    report.errorbar(a1, T, res, "alignment", "o-", label="alignment (greedy answers)")
    report.errorbar(a1, T, res, "centroid_cosine", "s-", label="students: cosine to true centroid (S.2)")
    report.errorbar(a1, T, res, "teacher_centroid_cosine", "^--", label="teacher at T: cosine to true centroid")
    a1.set_xlabel("teacher temperature")
    a1.set_ylabel("cosine similarity")
    a1.legend(fontsize=7)
    report.errorbar(a2, T, res, "inter_student_variance", "o-", label="between-student variance (uncorrected)")
    report.errorbar(a2, T, res, "inter_student_variance_floor", "x:", label="its sampling floor (S.1)")
    report.errorbar(a2, T, res, "inter_student_variance_corrected", "s-", label="corrected (S.1)")
    a2.set_xlabel("teacher temperature")
    a2.set_ylabel("variance of mean embedding")
    a2.legend(fontsize=7)
    report.errorbar(a3, T, res, "greedy_disagreement", "o-", label="greedy disagreement")
    report.errorbar(a3, T, res, "variance_share", "s-", label="share: teacher variance ≥ student's (Table 2)")
    a3.set_xlabel("teacher temperature")
    a3.set_ylabel("cosine distance / share")
    a3.legend(fontsize=7)
    fig.tight_layout()
    return fig


def shared_bins(a, b, count: int = 10) -> np.ndarray:
    """Histogram edges both samples share, wide enough to show a sample whose values are all
    equal (identical answers project to one point: a zero-width range would hide its bar)."""
    both = np.concatenate([np.asarray(a, float), np.asarray(b, float)])
    lo, hi = float(both.min()), float(both.max())
    half = max((hi - lo) / 2, 0.05 * max(abs(lo), abs(hi)), 1e-3)
    mid = (lo + hi) / 2
    return np.linspace(mid - 1.05 * half, mid + 1.05 * half, count + 1)


def fig_llm_pc1(res: Results):
    """Appendix B.2: teacher's and a student's answers on the first principal component."""
    prompts = res.shown_prompts
    idx = [0, len(res.temperature) - 1]
    fig, axes = subplots(len(prompts), 2, figsize=(9, 3 * len(prompts)), squeeze=False)
    for r, _ in enumerate(prompts):
        for c, i in enumerate(idx):
            ax = axes[r][c]
            bins = shared_bins(res.pc1_teacher[i][r], res.pc1_student[i][r])
            ax.hist(res.pc1_teacher[i][r], bins=bins, alpha=0.6, label="teacher")
            ax.hist(res.pc1_student[i][r], bins=bins, alpha=0.6, label="student")
            ax.set_title(f"prompt {prompts[r]}, T = {res.temperature[i]}", fontsize=9)
            ax.set_xlabel("projection on first principal component")
            ax.set_ylabel("answers")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures(res: Results) -> dict:
    """This experiment's figures, by file name (the document refers to them)."""
    return {"temperature.png": fig_llm_temperature(res), "pc1.png": fig_llm_pc1(res),
            "training.png": report.fig_training(res, [f"T = {T}" for T in res.temperature])}


def document(res: Results) -> doc.Section:
    """This experiment's report: tables and the figures of :func:`figures`."""
    main = report.table(res, "T", res.temperature,
                    ["alignment", "greedy_disagreement", "logprob_spread", "inter_student_variance",
                     "inter_student_variance_floor", "inter_student_variance_corrected"],
                    ["alignment (greedy)", "greedy disagreement", "log-prob spread", "between-student var",
                     "its floor (S.1)", "corrected (S.1)"])
    spread = report.table(res, "T", res.temperature,
                      ["teacher_entropy", "student_entropy", "narrower_share", "intra_variance_gap", "variance_share",
                       "teacher_hallucination", "hallucination", "teacher_tv_excess", "tv_excess",
                       "teacher_noise", "student_noise"],
                      ["teacher H", "student H", "share narrower (H)", "intra var, student − teacher",
                       "Table 2 share", "teacher hallucination", "student hallucination",
                       "teacher TV excess (S.3)", "student TV excess (S.3)", "teacher noise", "student noise"])
    title = "LLM teacher output uncertainty: temperature sweep (Section 4.3, App. B.2, Table 2)"
    return report.llm_section(title, res, [
        doc.Paragraph("Each student learns its own teacher answer per prompt (drawn at T); init and data order are "
                      "the same for every student of a replicate. Students are sampled at temperature 1; the teacher "
                      "at T."),
        main,
        doc.Paragraph(doc.Strong("Predictive spread and Table 2"), " (share of prompts whose teacher embedding "
                      "variance is at least the students'):"),
        spread, doc.Figure("temperature.png", "temperature"), doc.Figure("pc1.png", "PC1 projections"),
        doc.Figure("training.png", "the students' training loss at every step")],
        steps=res.steps[0])


# --- claims: what the study says this experiment shows, judged from its results ------------


def _slopes(T, per_point) -> np.ndarray:
    """Least-squares slope on T of each replicate's values: per_point (points, R) -> (R,)."""
    y = np.asarray(per_point, float).T
    t = np.asarray(T, float) - np.mean(T)
    return (y - y.mean(axis=1, keepdims=True)) @ t / (t @ t)


def _llm_temperature(res: Results) -> Interval:
    slopes = _slopes(res.temperature, res.alignment)
    m, lo, hi = stats.mean_interval(-slopes)
    al = res.means("alignment")
    return Interval(m, lo, hi, len(slopes),
                    f"alignment (greedy vs greedy) {fmt(al[0])} at T = {fmt(res.temperature[0])} → {fmt(al[-1])} "
                    f"at T = {fmt(res.temperature[-1])}; slope per unit T {fmt(-m)}, 95% interval "
                    f"[{fmt(-hi)}, {fmt(-lo)}] over {len(slopes)} replicates; {report.regime_text(res)}",
                    gate=measures.gate(res))


def near_one(res) -> int:
    """The grid point whose temperature is closest to 1."""
    return int(np.argmin(np.abs(np.asarray(res.temperature) - 1.0)))


def _llm_narrower(res: Results) -> Interval:
    i = near_one(res)
    gap = np.asarray(res.teacher_entropy[i]) - np.asarray(res.student_entropy[i])
    m, lo, hi = stats.mean_interval(gap)
    pp = res.per_prompt[i]
    boot = stats.prompt_bootstrap(np.asarray(pp["teacher_entropy"]) - np.asarray(pp["student_entropy"]))
    var = stats.mean_interval(-np.asarray(res.intra_variance_gap[i]))
    share = [float(np.mean(x)) for x in res.variance_share]
    return Interval(m, lo, hi, len(gap),
                    f"at T = {fmt(res.temperature[i])}: answer entropy, teacher − students (same number of samples "
                    f"each) {stats.span(m, lo, hi)} nats over {len(gap)} replicates, prompt bootstrap "
                    f"[{fmt(boot[1], 4)}, {fmt(boot[2], 4)}]; within-model embedding variance, teacher − students "
                    f"{stats.span(*var)}; students narrower on {fmt(100 * float(np.mean(res.narrower_share[i])), 3)}% "
                    f"of prompts; Table 2's share per T: "
                    + ", ".join(f"{fmt(100 * x, 3)}% at {fmt(T)}" for x, T in zip(share, res.temperature))
                    + f"; {report.regime_text(res)}", gate=measures.gate(res))


CLAIMS: tuple[Claim, ...] = (
    Claim("llm-temperature", "teacher", "LLM students: alignment with the teacher falls mildly as teacher "
          "temperature rises", "the least-squares slope of alignment (students' greedy answers against the "
          "teacher's greedy answer) on T, per replicate: its 95% interval lies below 0; inconclusive (regime) "
          "when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%",
          ("llm-teacher-noise-gpt2",), _llm_temperature),
    Claim("llm-narrower", "teacher", "LLM students' predictive distribution is narrower than the teacher's "
          "(each student trained on its own sampled answers: Section 4.3, Table 2, C.1)",
          "at the temperature nearest 1, the teacher's answer entropy minus the students' (both from the same "
          "number of samples on the held-out prompts), per replicate: its 95% interval lies above 0; the prompt "
          "bootstrap, the embedding-variance gap and Table 2's share are reported beside it; inconclusive (regime) "
          "when the teacher at T = 1 or the direct fine-tune hallucinates more than 10%",
          ("llm-teacher-noise-gpt2",), _llm_narrower),
)
