"""Students: linear (batched OLS); neural students live beside it."""
