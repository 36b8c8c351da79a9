// AirlockRelay: see docs/architecture.md.
