"""gaitscope.models"""
