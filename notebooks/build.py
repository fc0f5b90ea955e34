"""Write the study notebooks (one per section) from the cells below: `python notebooks/build.py`.

The notebooks are stored without outputs; `make test` executes every one of them (small
settings, about a minute each on 2 CPU cores) and checks that each shows its figures.
"""

from pathlib import Path

import nbformat as nbf

class MD(str):
    """A markdown cell (cells starting with '#' are markdown too)."""


SETUP = """import numpy as np
import matplotlib.pyplot as plt
import jax
# Each experiment's report module has fig_* functions that return matplotlib Figures; a cell's last one is shown.
%matplotlib inline"""

NOTEBOOKS = {
    "01_teacher_noise.ipynb": [
        "# Teacher output uncertainty (study Section 4)\n\nA teacher whose outputs carry noise of "
        "variance σ² labels the data once per student. Linear students follow docs/theorems.md 4.1-4.3 "
        "exactly: inter-student variance V = σ²c. MLP students are measured against the same sweep.",
        SETUP,
        "from jaxkd.experiments.teacher_noise import config, report, run\n\n"
        "cfg = config.Config.from_preset('quick', model='linear', num_students=200)\n"
        "res = run.run(cfg)\n"
        "print('alpha      V (simulated)   sigma^2 c (4.1)')\n"
        "for a, V, p in zip(res.alpha, res.inter_student_variance, res.predicted_variance):\n"
        "    print(f'{a:5.2f}   {float(V):14.5f}   {float(p):14.5f}')\n"
        "report.fig_teacher_noise_variance(res)",
        "## MLP students\n\nSame split and noise levels; 50 students, 100 epochs to keep it quick.",
        "cfg = config.Config.from_preset('quick', model='mlp', num_students=50, epochs=100)\n"
        "res_mlp = run.run(cfg)\n"
        "report.fig_teacher_noise_variance(res_mlp)",
    ],
    "02_initialization.ipynb": [
        "# Student initialization uncertainty (study Section 5)\n\nMLP students that differ only "
        "by a multiplicative perturbation of their init, and bootstrap students (docs/theorems.md 5.1-5.3).",
        SETUP,
        "from jaxkd.experiments.init_perturbation import config, report, run\n\n"
        "cfg = config.Config.from_preset('quick', num_students=50, epochs=100)\n"
        "res = run.run(cfg)\n"
        "report.fig_init_perturbation(res)",
        "## Bootstrap: teacher-labelled vs ground truth\n\nFor a linear teacher, teacher-labelled "
        "bootstrap students are all equal to the teacher (5.1); ground-truth bootstrap variance "
        "decays like 1/b (5.2).",
        "from jaxkd.experiments.bootstrap import config, report, run\n\n"
        "res_b = run.run(config.Config.from_preset('quick', model='linear', num_students=200))\n"
        "report.fig_bootstrap_variance(res_b)",
    ],
    "03_output_uncertainty.ipynb": [
        "# Student output uncertainty (study Section 6, Appendix C)\n\nA classifier distilled on hard "
        "pseudo-labels, and the exact entropy gap of single-response students (C.1).",
        SETUP,
        "from jaxkd.experiments.output_entropy import config, report, run\n\n"
        "cfg = config.Config.from_preset('quick', datasets=('wine',), epochs=100, replicates=3)\n"
        "res = run.run(cfg)\n"
        "report.fig_output_entropy(res)",
        "## C.1: the empirical distribution of k answers is narrower than the teacher's\n\n"
        "Exact expectation by enumerating multinomial outcomes, against the Miller-Madow "
        "approximation (K − 1)/(2k).",
        "from jaxkd.theory import closed_forms as cf\n\n"
        "p = np.array([0.5, 0.3, 0.2])\n"
        "ks = np.arange(1, 21)\n"
        "exact = [float(cf.entropy(p) - cf.expected_empirical_entropy(p, int(k))) for k in ks]\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(ks, exact, 'o', label='exact gap H(p) − E[H(p̂_k)]')\n"
        "ax.plot(ks, (len(p) - 1) / (2 * ks), '-', label='(K − 1)/(2k)')\n"
        "ax.set_xlabel('teacher answers per prompt k'); ax.set_ylabel('entropy gap (nats)'); ax.legend();",
    ],
    "04_variance_aware.ipynb": [
        "# Variance-aware distillation (study Section 7)\n\nThe corrections on your own teacher: "
        "draw k responses per input, average them (7.1, 7.2), and combine teacher and student "
        "estimates with inverse-variance weights (7.3, 7.4).",
        SETUP,
        "import jax.numpy as jnp\n"
        "from jaxkd import targets, teachers, uncertainty\n"
        "from jaxkd.data import load_dataset, split\n"
        "from jaxkd.students import linear\n\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "sp = split(load_dataset('boston'), seed=0)\n"
        "X, X_test = linear.add_intercept(sp.X_train), linear.add_intercept(sp.X_test)\n"
        "mu = X @ linear.fit(X, sp.y_train)          # your teacher's mean output, (n,)\n"
        "sigma2 = 0.5                                 # its output noise\n"
        "key = jax.random.key(0)\n"
        "V = {}\n"
        "for k in (1, 3, 10):\n"
        "    resp = teachers.sample_responses(key, mu, sigma2, k=k, num_students=300)   # (N, k, n)\n"
        "    theta = linear.solve(linear.gram_factor(X), X, targets.average(resp))       # (N, d)\n"
        "    V[k] = float(uncertainty.inter_student_variance(linear.predict(theta, X_test)))\n"
        "V",
        MD("Inverse-variance weighting of a teacher estimate (variance σ²/k) and a student estimate "
        "(variance s²): the weights and the variance they reach."),
        "var_t = np.linspace(0.01, 2, 50)\n"
        "var_s = 0.3\n"
        "a_t, a_s = targets.inverse_variance_weights(var_t, var_s)\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(var_t, targets.combined_variance(var_t, var_s), label='combined variance (7.4)')\n"
        "ax.plot(var_t, np.minimum(var_t, var_s), '--', label='min(σ_T², σ_S²)')\n"
        "ax.plot(var_t, a_t, ':', label='teacher weight α_T (7.3)')\n"
        "ax.set_xlabel('teacher variance σ_T²'); ax.legend();",
        "## The sweep, as `jaxkd run variance-aware` runs it",
        "from jaxkd.experiments.variance_aware import config, report, run\n\n"
        "res = run.run(config.Config.from_preset('quick', num_students=200))\n"
        "report.fig_variance_aware(res, 'variance', 'inter-student variance')",
    ],
    "05_language_models.ipynb": [
        "# Language models (study Sections 4.3, 6.2, 7.3)\n\n`jaxkd.llm.distill` on your own teacher and "
        "students: sample k teacher answers per prompt, choose targets, distil N students at once on jaxkd's "
        "engine, read their training curves, and measure them. Everything here is tiny (a 300-token BPE, "
        "two-layer GPT-2s, three questions) so that it runs in seconds: **what it can show** is the API and the "
        "shapes of the numbers; **what it cannot** is any of the study's effects. Students this small, trained "
        "this briefly, mostly produce text that is none of the valid answers (the llm-* experiments call such a "
        "regime incompetent and refuse to judge a claim on it: 'inconclusive (regime)'). The study's numbers "
        "come from `jaxkd reproduce` (docs/results.md).",
        SETUP,
        "from jaxkd import progress\n"
        "from jaxkd.llm import ModelConfig, distill, sampling, tokenizer\n"
        "from jaxkd.llm.embeddings import Embedder\n"
        "from jaxkd.llm.model import init\n\n"
        "progress.quiet_third_party()  # Hugging Face's progress bars and advisories stay out of the outputs\n"
        "questions = ['What colour is the sky?', 'What do cows drink?', 'Where is Paris?']\n"
        "answers = ['blue', 'grey', 'water', 'milk', 'in France']\n"
        "tok = tokenizer.train_bpe(questions + answers * 5, vocab_size=300)\n"
        "template = 'Q: {prompt}\\nA:'\n"
        "truth = distill.encode_pairs(tok, questions * 4, ['blue', 'water', 'in France', 'grey', 'milk', 'in France'] * 2,\n"
        "                             template=template)\n"
        "teacher, teacher_loss = distill.fine_tune(init(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(0)),\n"
        "                                          truth, jax.random.key(1), epochs=60, batch_size=4, learning_rate=3e-3)\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(teacher_loss); ax.set_xlabel('step'); ax.set_ylabel('teacher training loss (nats per token)');",
        "## Distil N students from k sampled answers per prompt\n\nEach student draws its own k teacher answers "
        "(`students=N`), keeps the one closest to their mean embedding (averaging, study 7.3), and trains on it: "
        "every epoch a permutation of its pairs, the Hugging Face Trainer's optimizer. `distill` returns the loss "
        "of every step.",
        "prompts = distill.encode_prompts(tok, questions, template)\n"
        "sample = sampling.SamplingConfig(max_new_tokens=6)          # the study's top-k 50 and penalty 1.2\n"
        "embedder = Embedder()\n"
        "k, N = 3, 4\n"
        "draws = distill.teacher_responses(teacher, tok, prompts, k, jax.random.key(2), sample, students=N)  # N x P x k\n"
        "per_student = [distill.encode_pairs(tok, questions, [a for _, a in distill.choose_targets(\n"
        "                   'averaging', d, distill.embed_texts(embedder, d))], template=template) for d in draws]\n"
        "student = init(ModelConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(3))\n"
        "students = distill.distill(student, distill.stack_pairs(per_student, tok.eos_token_id),\n"
        "                           order_keys=jax.random.split(jax.random.key(4), N), epochs=40, batch_size=2,\n"
        "                           learning_rate=3e-3)\n"
        "fig, ax = plt.subplots()\n"
        "for i, curve in enumerate(students.losses):\n"
        "    ax.plot(curve, lw=0.8, label=f'student {i}')\n"
        "ax.set_xlabel('step'); ax.set_ylabel('training loss'); ax.legend();",
        "## Measure them\n\nBetween-student variance with its sampling floor and corrected (S.1), alignment with "
        "the teacher, within-model spread. With three questions these are illustrations, not estimates.",
        "teacher_texts = distill.teacher_responses(teacher, tok, prompts, 8, jax.random.key(5), sample)\n"
        "texts = distill.student_responses(students, tok, prompts, 8, jax.random.key(6), sample)\n"
        "m = distill.measure(distill.embed_texts(embedder, texts), distill.embed_texts(embedder, teacher_texts))\n"
        "print(f'alignment {m.alignment:.5f}, between-student variance {m.inter_student_variance:.5f} '\n"
        "      f'(floor {m.inter_student_variance_floor:.5f}, corrected {m.inter_student_variance_corrected:.5f})')",
        "## The same with Llama-family models\n\nEvery call above takes a Llama, Qwen2, Qwen3 or Mistral model too "
        "(`jaxkd.llm.checkpoint.load` on a Hugging Face folder picks the family from its `model_type`; here tiny "
        "random ones). A Llama teacher (grouped-query heads, rotary positions) fine-tuned on the same answers, and "
        "four Qwen3 students (q/k RMSNorm) distilled on its token-level distribution with the generalised "
        "JSD(β = 0.5): the teacher's logits are computed per batch inside the compiled step. Teacher and students "
        "share the tokenizer, as token-level targets require.",
        "from jaxkd.llm import LlamaConfig, families\n\n"
        "llama = families.init(LlamaConfig.tiny(len(tok), tok.eos_token_id), jax.random.key(7))\n"
        "llama_teacher, _ = distill.fine_tune(llama, truth, jax.random.key(8), epochs=60, batch_size=4, learning_rate=3e-3)\n"
        "qwen3 = families.init(LlamaConfig.tiny(len(tok), tok.eos_token_id, model_type='qwen3'), jax.random.key(9))\n"
        "soft = distill.distill(qwen3, truth, order_keys=jax.random.split(jax.random.key(10), 4), epochs=30, batch_size=4,\n"
        "                       learning_rate=3e-3, loss=distill.Loss('jsd', beta=0.5), teacher=llama_teacher)\n"
        "fig, ax = plt.subplots()\n"
        "for i, curve in enumerate(soft.losses):\n"
        "    ax.plot(curve, lw=0.8, label=f'Qwen3 student {i}')\n"
        "ax.set_xlabel('step'); ax.set_ylabel('JSD(0.5) to the Llama teacher (nats per token)'); ax.legend()\n"
        "print(distill.student_responses(soft, tok, prompts, 1, jax.random.key(11), sample.top1)[0])",
    ],
    "06_theory.ipynb": [
        "# Theory: every closed form of docs/theorems.md, simulated through jaxkd\n\n`jaxkd.theory.verify` "
        "draws Monte Carlo students through the toolkit's own code and compares with the closed "
        "forms; each tolerance is Z standard errors of the simulated value (Z about 4.1 holds the "
        "whole run's family-wise error at 1%) plus any term the result states only 'about'.",
        SETUP,
        "from jaxkd.theory.verify import verify\n\n"
        "checks = verify(num_students=300, results=['4.1', '7.1', '7.4', 'C.1'])\n"
        "for c in checks[:12]:\n"
        "    print(f'{c.result:4} {c.case[:60]:60} {c.predicted:10.4g} {c.observed:10.4g}  {\"pass\" if c.passed else \"FAIL\"}')\n"
        "print(sum(c.passed for c in checks), 'of', len(checks), 'checks pass')",
        MD("V = σ²c (4.1): the closed form against simulated students across noise levels."),
        "from jaxkd.theory import closed_forms as cf\n"
        "from jaxkd.experiments.teacher_noise import config, report, run\n\n"
        "res = run.run(config.Config.from_preset('quick', num_students=300))\n"
        "fig, ax = plt.subplots()\n"
        "ax.errorbar(res.alpha, res.inter_student_variance, yerr=2 * np.asarray(res.inter_student_variance_se), fmt='o', label='simulated ±2 SE')\n"
        "ax.plot(res.alpha, res.predicted_variance, '-', label='σ²c')\n"
        "ax.set_xlabel('α'); ax.set_ylabel('V'); ax.legend();",
    ],
}


def build(folder: Path = Path(__file__).parent) -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbf.v4.new_markdown_cell(c) if isinstance(c, MD) or c.startswith("#")
                    else nbf.v4.new_code_cell(c) for c in cells]
        nbf.write(nb, folder / name)


if __name__ == "__main__":
    build()
