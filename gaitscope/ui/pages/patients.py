"""Streamlit page script: see :mod:`gaitscope.ui.views.patients`."""

from gaitscope.ui.views.patients import render

render()
