"""gaitscope.platform"""
