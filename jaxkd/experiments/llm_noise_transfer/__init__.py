"""Noise transfer across teacher temperatures (study Sections 6.2, 7.3): how much of the
teacher's per-prompt noise reaches students (slope and R² of student noise on teacher noise
across prompts, per replicate), and the students' systematic noise: their per-prompt noise
minus the noise of the true answer distribution itself (S.4), with the base students fine-tuned
directly on one reference answer per prompt (the study's reference) beside it. The students are
llm-teacher-noise's (each its own teacher draws; reused from the shared folder when that
experiment ran first).
"""
