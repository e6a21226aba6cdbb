"""gaitscope.db"""
