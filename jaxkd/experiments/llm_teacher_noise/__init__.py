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
