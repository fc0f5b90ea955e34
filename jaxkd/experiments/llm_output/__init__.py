"""LLM student output uncertainty (study Section 6.2, Figure 10; docs/theorems.md C.1).

Protocol (the study's): every student learns the teacher's **greedy** answers from the same
init; the students of a replicate also share the data order, so they are the same model and
all their differences are output sampling (their corrected between-student variance must be
about 0 while the uncorrected one sits on its floor, S.1). R replicates differ in base student
and data order. Teacher and students are sampled at each temperature of the grid (the same
number of samples each); measured per replicate on the evaluation prompts: alignment of the
mean sampled answers, the within-model embedding variance gap (student − teacher), answer
entropies, the exact distribution measures (S.2, S.3) and the share of prompts where the
students are narrower.

Greedy supervision is not the setting of C.1 (no sampled targets): the study's 6.2.1 reports
these students slightly *wider* than the teacher, and that is the claim judged here; "students
are narrower" is judged on llm-teacher-noise, where each student learns its own sampled answers.
"""
