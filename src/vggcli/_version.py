"""The version of vggcli (one place: pyproject.toml reads it, state files and downloads name it)."""

__version__ = "0.1.0"
