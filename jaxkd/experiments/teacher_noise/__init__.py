"""Teacher output uncertainty (study Sections 4.1-4.2): students distilled from a noisy teacher.

For each noise level alpha, ``sigma^2 = alpha Var(y_train)``; N students each see one noisy
response per input (standard distillation). Measured: inter-student variance of the test
predictions (docs/theorems.md 4.1), test MSE against the teacher (4.2) and against the ground
truth (4.3), and the variance across students of each student's test MSE against the ground
truth: what the study's figure calls "variance" (its scripts record it), quadratic in sigma^2
for OLS students (X.1), so the linear run is the control for the MLP curve's shape.

* ``model="linear"``: OLS teacher, N OLS students in one solve; closed forms drawn over them.
* ``model="mlp"``: MLP teacher trained on the true labels, N MLP students (same architecture,
  vmapped); the linear sweep runs alongside so the two curves are plotted together. Student
  inits are the same at every alpha (init stream), so the curve isolates teacher noise.
"""
