"""Streamlit page script: see :mod:`gaitscope.ui.views.cohort`."""

from gaitscope.ui.views.cohort import render

render()
