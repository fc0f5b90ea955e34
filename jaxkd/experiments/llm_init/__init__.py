"""LLM student initialization uncertainty (study Section 5.1, Appendix D).

Protocol (the study's): every student starts from its replicate's base student with each
parameter multiplied by ``(1 + eps)``, ``eps ~ N(0, s^2)`` per parameter (a relative
perturbation, N(0, (s|w|)^2) added), and learns the teacher's greedy answers in its replicate's
data order, so the perturbation is the only difference between the students of a replicate. R
replicates (their own base student, data order and perturbation draws) of N students.

The claim is about outputs, so it is judged on them: the spread across students of the
teacher-forced log-probability of every valid answer (no sampling floor) at the largest s,
divided by the spread that the teacher's own randomness causes (students that differ only in
their sampled teacher answers at T = 1: llm-teacher-noise's students), against the same ratio for
MLP students on Boston (the variance of their test predictions under the same perturbation,
divided by the variance that teacher noise at α = 1 causes). Also measured against s: the
between-student variance (corrected for its floor, S.1), greedy disagreement, alignment; how
much training amplifies the initial parameter spread (GPT-2 and MLP students, the same rule);
and the trajectories of three tracked parameters through fine-tuning, the unperturbed one
(s = 0) drawn in black.
"""
