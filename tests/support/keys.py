"""Keys for tests: not secrets anywhere else."""

CHAIN_KEY = "test-chain-key-0123456789abcdef0123456789"
