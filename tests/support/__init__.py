"""What every test shares: an isolated environment, git, the CLI runner, golden files and the
repositories the tests start from. The root conftest.py wires it into pytest."""
