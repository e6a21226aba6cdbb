"""The dashboard's pages as ``render()`` functions (the files in ``gaitscope/ui/pages`` only call them)."""
