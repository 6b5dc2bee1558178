"""Event webhooks: the audit log's events, POSTed and signed to the organization's endpoints."""
