// AirlockCrypto: see docs/architecture.md.
