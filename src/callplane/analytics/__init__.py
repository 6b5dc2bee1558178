"""Conversation analytics (time buckets computed by the database) and the post-conversation
analysis workflow that fills `summary`, `successful` and extracted fields."""
