"""Beyond the study: which distillation objective keeps the teacher's uncertainty? Language-model
students distilled with each objective the field uses, measured exactly on a corpus whose answer
distributions are known.

The study compares ways of choosing *targets* (one sample, k samples, averaging, weighting) for
sequence-level distillation; practitioners distil with *objectives* (TRL's ``GKDTrainer``):
token-level forward KL on the teacher's distribution (soft targets), reverse KL (mode-seeking, as
MiniLLM), the generalised JSD(β) between them, on-policy training on the students' own samples
scored by the teacher (TRL's ``lmbda``), and sequence-level KD on k teacher samples (``seq_kd``).

Protocol: at each teacher temperature T every student gets its own teacher answer per prompt
drawn at T (two more for sequence-level k = 3); the divergence objectives take their positions
from those sequences (the teacher's full next-token distribution at T at every answer position,
``Loss.teacher_temperature`` = T, so a student sampled at temperature 1 is compared with the
teacher sampled at T); on-policy students replace a share λ of their steps by their own
continuations. Every objective trains the same number of optimisation steps (the single-response
steps): compute is matched. Init and data order are fixed within a replicate, so students of a
replicate differ only through their teacher draws (and, on-policy, their own samples); R
replicates have their own base students, data orders and draws. Measured per replicate on the
evaluation prompts with the same number of samples per model: the answer entropy of students and
teacher, the entropy gap to the truth and the TV excess (S.3), hallucination, the between-student
variance with its floor and corrected (S.1) and the log-prob spread (no floor).

Predictions, each decided by an interval (the claims): forward KL is mean-seeking (its students
sit closer to the teacher's entropy than sequence-level students, and agree more); reverse KL is
mode-seeking (students narrower than the teacher at the flattest teacher); sequence-level KD on k
samples narrows by about C.1's amount, less at k = 3 than at k = 1; JSD(β) lies in between,
its students' entropy falling with β. docs/theorems.md X.4-X.7 say what to expect of students
that can represent their teacher: every objective then has the same optimum.
"""
