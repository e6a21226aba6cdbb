"""gaitscope.synthetic"""
