// AirlockPolicy: see docs/architecture.md.
