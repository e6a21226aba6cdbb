"""Streamlit page script: see :mod:`gaitscope.ui.views.accounts`."""

from gaitscope.ui.views.accounts import render

render()
