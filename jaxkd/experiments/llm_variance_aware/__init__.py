"""Variance-aware LLM distillation (study Section 7.3, Table 1; Appendix F, Table 5).

Protocol (the study's): each student draws its **own** k teacher answers per prompt
(temperature 1, the script's default) and keeps, per method: the first (single-response), all k
(multi-response), the one closest to their mean embedding (averaging), or the one closest to the
inverse-variance combination of the teacher's and the untrained base student's mean embeddings
(variance weighting: the study's variances, and with ``--jaxkd-methods`` jaxkd's
variance-of-the-mean variant beside it; each student its own samples from its replicate's base
student). The base student never saw a
question with its answer, so no ground truth leaks into the choice.

Like for like decides: every method at equal epochs per target ("epochs": multi-response
trains k times single's steps over its k-times-larger set; the others train one target per
prompt, so their single-response steps, "equal", are equal epochs), single's steps beside; with
``--converged-rows`` (on at the paper preset) every method also trains to its own convergence
(the engine's stopping rule on the training loss, at most 3 x the epochs) and those rows decide.
With ``--study-schedule`` (on at the paper preset, off at quick, where it would be most
of the training) the study's schedule (epochs x k passes over each method's set, so compute grows
with k: multi-response trains k² times single's steps) is run beside them and its verdicts are
labelled compute-confounded; single- and multi-response students at k times single's steps ("k×
steps") complete a small steps x method grid. Soft targets (token-level KD) are jaxkd's other
addition (``--jaxkd-methods``; both additions on at the paper preset, off at quick); the direct
fine-tune on one reference answer per prompt is a row. Systematic noise is measured
against the true answer distribution (S.4; against the direct fine-tune on single-answer
corpora, as the study). R replicates (their own teacher draws, base students, data orders);
methods share each replicate's draws, so their differences are paired.
"""
