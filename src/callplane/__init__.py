"""callplane: a self-hostable control plane for conversational AI agents."""
