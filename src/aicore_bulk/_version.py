"""The version of aicore-bulk, read by the build backend and by ``aicore_bulk.__version__``."""

__version__ = "0.1.0.dev0"
