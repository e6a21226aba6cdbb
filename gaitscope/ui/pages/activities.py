"""Streamlit page script: see :mod:`gaitscope.ui.views.activities`."""

from gaitscope.ui.views.activities import render

render()
