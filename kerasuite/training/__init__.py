"""Training machinery shared by every task: optimizers, callbacks, the fit loop."""
