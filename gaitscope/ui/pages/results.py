"""Streamlit page script: see :mod:`gaitscope.ui.views.results`."""

from gaitscope.ui.views.results import render

render()
