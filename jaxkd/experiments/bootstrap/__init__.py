"""Student initialization uncertainty via bootstrap (study Section 5.2).

N students each fit b rows drawn with replacement from the training set, labelled either by
the teacher (noise-free OLS outputs; docs/theorems.md 5.1 predicts zero variance) or by the ground
truth (5.2: variance about ``(tau^2/b) x^T Sigma^{-1} x``; 5.3: MSE about ``tau^2 (1 + d/b)``).
Both variants use the same resampled rows for each student, so their difference is the labels.
"""
