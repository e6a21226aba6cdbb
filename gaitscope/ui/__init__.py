"""The clinician dashboard (Streamlit): pages in :mod:`gaitscope.ui.views`, figures in :mod:`gaitscope.ui.plots`.

Figures and tables are built by pure functions from records, so they are tested without Streamlit; the views
only lay them out. User text is never rendered as HTML (no ``unsafe_allow_html`` anywhere).
"""
