// AirlockAgent: see docs/architecture.md.
