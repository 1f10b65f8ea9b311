from tests.agents.conftest import world

__all__ = ["world"]
