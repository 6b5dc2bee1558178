"""The audit log: every write, who made it, in the transaction that made it."""
