"""Agent tests: scripted or simulated conversations with expectations, run as DBOS workflows
against an immutable version, and the publish gate that asks for a passed run."""
