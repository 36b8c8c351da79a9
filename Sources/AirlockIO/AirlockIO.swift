// AirlockIO: see docs/architecture.md.
