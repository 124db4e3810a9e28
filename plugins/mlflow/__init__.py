"""threadline.mlflow: the Mlflow adapter.

This package is the adapter's home; its behaviour is specified in DESIGN.md section 7 and
built in its own issue. Until then it exposes nothing, and importing it costs nothing.
"""

__all__: list[str] = []
