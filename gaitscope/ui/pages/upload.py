"""Streamlit page script: see :mod:`gaitscope.ui.views.upload`."""

from gaitscope.ui.views.upload import render

render()
