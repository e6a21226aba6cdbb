"""gaitscope.analysis"""
