// AirlockNet: see docs/architecture.md.
