// AirlockWire: see docs/architecture.md.
