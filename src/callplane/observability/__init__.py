"""What the service tells its operator: Prometheus metrics (`GET /metrics`) and access logs."""
