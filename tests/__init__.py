"""IDHub's tests, mirroring the code's floors and wings; shared fixtures in tests/fixtures/."""

import pytest

# conftest.py imports a fixture module before pytest loads it as a plugin: let pytest
# rewrite the fixtures' asserts all the same.
pytest.register_assert_rewrite("tests.fixtures")
