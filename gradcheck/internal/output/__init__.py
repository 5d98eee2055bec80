"""The output layer: text reports, JUnit XML, DOT drawings.

Numbers become text only here.
"""
